"""python -m nsfw: the same core as the server, from the command line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import CLASSES, IMAGES, TESTS

ROOT = TESTS.parent


def run_cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "nsfw", *args], cwd=ROOT, capture_output=True, text=True, timeout=60, env=env
    )


def test_classifies_files_with_the_same_scores_as_nsfwjs(golden):
    names = ["astronaut_640x480.jpg", "chelsea.png"]
    result = run_cli(*(str(IMAGES / n) for n in names))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["source"] for line in lines] == [str(IMAGES / n) for n in names]
    for name, line in zip(names, lines):
        for cls in CLASSES:
            assert line[cls] == pytest.approx(golden["images"][name]["scores"][cls], abs=1e-4)


def test_reports_errors_per_input_and_exits_non_zero(tmp_path):
    bogus = tmp_path / "notes.txt"
    bogus.write_text("not an image")
    result = run_cli(str(bogus), str(tmp_path / "missing.jpg"), "http://169.254.169.254/latest/")
    assert result.returncode == 1
    codes = [json.loads(line)["error"]["code"] for line in result.stdout.splitlines()]
    assert codes == ["unsupported_media", "unreadable", "blocked_address"]


def test_serving_never_imports_tensorflow():
    """TensorFlow costs 650 MB and hangs after fork: the serving path must not touch it."""
    code = (
        "import sys, io; from app import app; "
        "d = app.extensions['nsfw']; d.load(); "
        f"d.classify_bytes(open({str(IMAGES / 'chelsea.png')!r}, 'rb').read()); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras')))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_writes_nothing_to_stderr_on_success():
    """stderr is for what the user must read: not LiteRT's XNNPACK INFO line."""
    result = run_cli(str(IMAGES / "chelsea.png"))
    assert result.returncode == 0
    assert result.stderr == ""
