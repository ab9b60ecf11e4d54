"""python -m nsfw (the `nsfw` command): the same core as the server, from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

import pytest
from gunicorn_helpers import free_port, stop, wait_until_ready
from helpers import CLASSES, IMAGES, TESTS

ROOT = TESTS.parent


def run_cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "nsfw", *args], cwd=ROOT, capture_output=True, text=True, timeout=60, env=env
    )


def environ(**changes):
    env = {k: v for k, v in os.environ.items() if not k.startswith("NSFW_")}
    env.update(changes)
    return env


def test_classifies_files_with_the_same_scores_as_nsfwjs(golden):
    names = ["astronaut_640x480.jpg", "chelsea.png"]
    result = run_cli(*(str(IMAGES / n) for n in names))
    assert result.returncode == 0, result.stderr
    lines = {json.loads(line)["source"]: json.loads(line) for line in result.stdout.splitlines()}
    assert sorted(lines) == [str(IMAGES / n) for n in names]  # records come as they are done
    for name in names:
        for cls in CLASSES:
            assert lines[str(IMAGES / name)][cls] == pytest.approx(golden["images"][name]["scores"][cls], abs=1e-4)


def test_reports_errors_per_input_and_exits_non_zero(tmp_path):
    bogus = tmp_path / "notes.txt"
    bogus.write_text("not an image")
    sources = [str(bogus), str(tmp_path / "missing.jpg"), "http://169.254.169.254/latest/"]
    result = run_cli(*sources)
    assert result.returncode == 1
    codes = {json.loads(line)["source"]: json.loads(line)["error"]["code"] for line in result.stdout.splitlines()}
    assert codes == dict(zip(sources, ["unsupported_media", "unreadable", "blocked_address"]))


def test_serving_never_imports_tensorflow():
    """TensorFlow costs 650 MB and hangs after fork: the serving path must not touch it."""
    code = (
        "import sys, io; from app import app; "
        "from nsfw.web import current; d = current.detector(app); d.load(); "
        f"d.classify_bytes(open({str(IMAGES / 'chelsea.png')!r}, 'rb').read()); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras')))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_writes_only_the_summary_to_stderr_on_success():
    """stderr is for what the user must read: not LiteRT's XNNPACK INFO line."""
    result = run_cli(str(IMAGES / "chelsea.png"))
    assert result.returncode == 0
    lines = result.stderr.splitlines()
    assert lines[0].startswith("1 image in ")
    assert lines[1:] == ["  classified: 1 (safe 1, unknown 0, adult 0)", "  failed: 0"]
    quiet = run_cli("--quiet", str(IMAGES / "chelsea.png"))
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_classify_subcommand_is_the_bare_form():
    image = str(IMAGES / "chelsea.png")
    bare, explicit = run_cli(image), run_cli("classify", image)
    assert bare.returncode == explicit.returncode == 0, bare.stderr + explicit.stderr
    assert bare.stdout == explicit.stdout
    assert set(json.loads(bare.stdout)) == {"source", "model", *CLASSES, "nsfw", "verdict", "top", "pdq"}


def test_classify_with_another_served_model():
    image = str(IMAGES / "chelsea.png")
    env = environ(NSFW_MODELS="mobilenet_v2,mobilenet_v2_mid")
    default, mid = run_cli(image, env=env), run_cli("classify", "--model", "mobilenet_v2_mid", image, env=env)
    assert default.returncode == mid.returncode == 0, default.stderr + mid.stderr
    assert json.loads(default.stdout) != json.loads(mid.stdout)
    unserved = run_cli("classify", "--model", "mobilenet_v2_mid", image, env=environ())
    assert unserved.returncode == 2
    assert "not served" in unserved.stderr and unserved.stdout == ""


def test_help_explains_commands_output_exit_codes_and_environment():
    result = run_cli("--help")
    assert result.returncode == 0
    text = result.stdout
    for needle in ("classify", "serve", "models", "JSON Lines", "CSV", "exit status", "NSFW_", "Configuration"):
        assert needle in text, needle
    for code in ("0", "1", "2", "130"):
        assert f"\n  {code}  " in text
    for command in ("classify", "serve", "models"):
        sub = run_cli(command, "--help")
        assert sub.returncode == 0 and f"python -m nsfw {command}" in sub.stdout


def test_usage_errors_exit_2():
    assert run_cli().returncode == 2  # no command: the help, on stderr
    assert run_cli("--no-such-option").returncode == 2
    assert run_cli("classify").returncode == 2  # no image


@pytest.mark.parametrize(
    "env",
    [
        {"NSFW_MAX_BYTES": "lots"},  # a bad value
        {"NSFW_MODELS": "no_such_model"},  # not in the manifest
        {"NSFW_MODEL_DIR": "/nonexistent"},  # no model files at all
    ],
    ids=["bad-value", "unknown-model", "no-model-files"],
)
def test_configuration_errors_exit_2_before_any_output(env):
    result = run_cli(str(IMAGES / "chelsea.png"), env=environ(**env))
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert "error:" in result.stderr


def test_an_altered_model_file_exits_2(tmp_path):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "manifest.json").write_bytes((ROOT / "model" / "manifest.json").read_bytes())
    (model_dir / "mobilenet_v2.tflite").write_bytes((ROOT / "model" / "mobilenet_v2.tflite").read_bytes()[:-1] + b"x")
    env = environ(NSFW_MODEL_DIR=str(model_dir))
    result = run_cli(str(IMAGES / "chelsea.png"), env=env)
    assert result.returncode == 2 and "sha256" in result.stderr
    listed = run_cli("models", env=env)
    assert listed.returncode == 2
    assert "sha256" in json.loads(listed.stdout)["error"]


def test_models_lists_the_served_models_from_the_manifest():
    manifest = json.loads((ROOT / "model" / "manifest.json").read_text())
    result = run_cli("models", env=environ(NSFW_MODELS="mobilenet_v2_mid,mobilenet_v2"))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(m["name"], m["served"], m["default"]) for m in lines] == [
        ("mobilenet_v2_mid", True, True),
        ("mobilenet_v2", True, False),
    ]
    for m in lines:
        entry = manifest["models"][m["name"]]
        assert m["classes"] == entry["classes"] and m["input_size"] == entry["input"]["size"]
        assert m["sha256"] == manifest["files"][entry["file"]]["sha256"]

    every = run_cli("models", "--all", env=environ())
    assert every.returncode == 0, every.stderr  # an unserved model that is not built is no error
    assert {json.loads(line)["name"] for line in every.stdout.splitlines()} == set(manifest["models"])


def test_models_lists_a_custom_model(tmp_path):
    custom = tmp_path / "mine.tflite"
    custom.write_bytes((ROOT / "model" / "mobilenet_v2.tflite").read_bytes())
    result = run_cli("models", env=environ(NSFW_MODEL_PATH=str(custom), NSFW_MODEL_CLASSES="a,b,c,d,e"))
    assert result.returncode == 0, result.stderr
    last = json.loads(result.stdout.splitlines()[-1])
    assert (last["name"], last["served"], last["file"], last["classes"]) == ("custom", True, str(custom), list("abcde"))


def test_root_gunicorn_conf_is_the_packaged_one():
    """`gunicorn app:app` from a checkout and `nsfw serve` read the same settings."""
    code = (
        "import runpy, json, nsfw.server.gunicorn_conf as m; root = runpy.run_path('gunicorn.conf.py'); "
        "names = [k for k in vars(m) if not k.startswith('_')]; "
        "print(json.dumps([k for k in names if root.get(k) is not getattr(m, k)]))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


@pytest.mark.slow
def test_serve_runs_the_api_under_gunicorn_from_any_directory(tmp_path):
    port = free_port()
    env = environ(PORT=str(port), WEB_CONCURRENCY="1", PYTHONPATH=str(ROOT), NSFW_TMP_DIR=str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "nsfw", "serve"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(proc, base)
        request = urllib.request.Request(
            f"{base}/predict", data=(IMAGES / "chelsea.png").read_bytes(), headers={"Content-Type": "image/png"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert set(json.loads(response.read())) == set(CLASSES)
    finally:
        log = stop(proc)
    assert proc.returncode == 0, log
    assert "Starting gunicorn" in log


def test_serve_refuses_a_bad_configuration_before_starting_gunicorn():
    result = run_cli("serve", env=environ(NSFW_MODEL_DIR="/nonexistent"))
    assert result.returncode == 2
    assert "manifest.json" in result.stderr and "gunicorn" not in result.stdout
