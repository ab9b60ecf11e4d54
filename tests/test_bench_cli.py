"""Smoke test of bench/cli.py (the `nsfw classify` images-per-second benchmark) on 20 images.

No timing is asserted: the machine is shared. It checks that the script still runs the real
command end to end, that every image it makes is classified, and that it prints its tables.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_cli_benchmark_runs_on_a_few_images():
    done = subprocess.run(
        [sys.executable, "bench/cli.py", "--count", "20", "--rounds", "1", "--jobs", "1", "2"],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    lines = done.stdout.splitlines()
    assert lines[0].startswith("made 20 640x480 JPEGs")
    assert any(line.startswith("| 1 | 1 | 20 |") for line in lines), done.stdout
    assert any(line.startswith("| 1 | 2 | 20 |") for line in lines), done.stdout
    assert any(line.startswith("| 2 | ") and line.endswith(" |") for line in lines[-2:]), done.stdout


def test_the_benchmark_images_are_distinct_640x480_jpegs(tmp_path):
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import cli as bench_cli
    finally:
        sys.path.remove(str(ROOT / "bench"))
    from PIL import Image

    bench_cli.make_images(tmp_path, 12)
    files = sorted(tmp_path.iterdir())
    assert len(files) == 12 and len({f.read_bytes() for f in files}) == 12
    for f in files:
        with Image.open(f) as image:
            assert (image.format, image.size, image.mode) == ("JPEG", (640, 480), "RGB")
