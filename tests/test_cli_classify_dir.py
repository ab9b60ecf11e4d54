"""``nsfw classify DIR``: every file of the directory is accounted for, in file words.

An image is classified; a file that is not an image is counted as skipped in the summary; a
file that cannot be read (a dangling link, a FIFO given by name) is a failure with a record
saying why. No message a user sees for a local file speaks of request bodies or HTTP.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from helpers import IMAGES, TESTS

from nsfw.batch.sources import walk_images

HTTP_WORDS = ("body", "request", "upload", "415", "url")


def run(*args: str, cwd) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NSFW_")}
    env["PYTHONPATH"] = str(TESTS.parent)
    command = [sys.executable, "-m", "nsfw", "classify", "--jobs", "1", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120, env=env)


@pytest.fixture
def folder(tmp_path):
    """Two images, two files that are not, one link to nothing, one FIFO."""
    root = tmp_path / "photos"
    (root / "nested").mkdir(parents=True)
    shutil.copyfile(IMAGES / "chelsea.png", root / "cat.png")
    shutil.copyfile(IMAGES / "retina.jpg", root / "nested" / "eye.data")  # a JPEG by its bytes
    (root / "notes.txt").write_text("not an image")
    (root / "nested" / "fake.jpg").write_bytes(b"not a JPEG either")
    (root / "gone.png").symlink_to(root / "deleted.png")
    os.mkfifo(root / "pipe")
    return root


def test_the_walk_yields_images_and_unreadable_files_and_names_the_rest(folder):
    skipped: list[str] = []
    found = list(walk_images(folder, skipped.append))
    assert found == [str(folder / "cat.png"), str(folder / "gone.png"), str(folder / "nested" / "eye.data")]
    assert skipped == [str(folder / "notes.txt"), str(folder / "pipe"), str(folder / "nested" / "fake.jpg")]


def test_a_directory_run_counts_what_it_skips_and_records_what_it_cannot_read(folder, tmp_path):
    result = run("photos", cwd=tmp_path)
    assert result.returncode == 1, result.stderr  # the unreadable file is a failure
    records = {r["source"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert sorted(records) == ["photos/cat.png", "photos/gone.png", "photos/nested/eye.data"]
    assert records["photos/cat.png"]["verdict"] == "safe" and "verdict" in records["photos/nested/eye.data"]
    assert records["photos/gone.png"]["error"] == {
        "code": "unreadable",
        "message": "cannot read the file: no such file or directory",
    }
    assert "3 images in" in result.stderr
    assert "failed: 1 (unreadable 1)" in result.stderr
    assert "skipped: 3 files in the directories that are not images" in result.stderr


def test_files_named_directly_fail_in_file_words(tmp_path):
    (tmp_path / "notes.txt").write_text("not an image")
    os.mkfifo(tmp_path / "pipe")
    result = run("notes.txt", "missing.jpg", "pipe", cwd=tmp_path)
    assert result.returncode == 1
    errors = {r["source"]: r["error"] for r in map(json.loads, result.stdout.splitlines())}
    assert errors == {
        "notes.txt": {
            "code": "unsupported_media",
            "message": "the file is not a JPEG, PNG, GIF, WebP, HEIF or AVIF image, nor a video this service reads",
        },
        "missing.jpg": {"code": "unreadable", "message": "cannot read the file: no such file or directory"},
        "pipe": {
            "code": "unreadable",
            "message": "cannot read the file: not a regular file (a FIFO, a socket or a device)",
        },
    }
    for error in errors.values():
        assert not any(word in error["message"].lower() for word in HTTP_WORDS), error
    assert "skipped" not in result.stderr  # files named one by one are never skipped silently


def test_a_summary_without_skipped_files_does_not_mention_them(tmp_path):
    shutil.copyfile(IMAGES / "chelsea.png", tmp_path / "cat.png")
    result = run(str(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "1 image in" in result.stderr and "skipped" not in result.stderr
