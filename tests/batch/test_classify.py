"""`nsfw classify` end to end: the real command in a subprocess, real model, real worker processes."""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import pty
import shutil
import signal
import struct
import subprocess
import sys
import termios
import time
import uuid
from pathlib import Path

import pytest
from helpers import CLASSES, IMAGES, TESTS

from nsfw.batch import records
from nsfw.imaging.decode import decode
from nsfw.imaging.pdq import hash_frame
from nsfw.settings import Settings

ROOT = TESTS.parent
IMAGE_NAMES = sorted(p.name for p in IMAGES.iterdir() if p.suffix in (".jpg", ".png"))
SUCCESS_KEYS = {"source", "model", *CLASSES, "nsfw", "verdict", "top", "pdq"}


def environ(**changes):
    env = {k: v for k, v in os.environ.items() if not k.startswith("NSFW_")}
    env.update(changes)
    return env


def command(*args):
    return [sys.executable, "-m", "nsfw", "classify", *args]


def run(*args, env=None, stdin=None, timeout=180):
    return subprocess.run(
        command(*args),
        cwd=ROOT,
        capture_output=True,
        text=True,
        input=stdin,
        env=env or environ(),
        timeout=timeout,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )


def by_source(text):
    lines = [json.loads(line) for line in text.splitlines()]
    result = {line["source"]: line for line in lines}
    assert len(result) == len(lines), "a source was recorded twice"
    return result


def copies(directory, count, name="astronaut_640x480.jpg"):
    directory.mkdir()
    for i in range(count):
        shutil.copyfile(IMAGES / name, directory / f"{i:04d}.jpg")
    return directory


def test_a_folder_gives_one_record_per_image_with_the_api_scores(golden):
    result = run("tests/data/images")
    assert result.returncode == 0, result.stderr
    got = by_source(result.stdout)
    assert sorted(got) == [f"tests/data/images/{name}" for name in IMAGE_NAMES]  # SOURCES.md is no image
    for name, expected in golden["images"].items():
        record = got[f"tests/data/images/{name}"]
        assert set(record) == SUCCESS_KEYS
        for cls in CLASSES:
            assert record[cls] == pytest.approx(expected["scores"][cls], abs=1e-4)
        assert record["nsfw"] == pytest.approx(record["porn"] + record["hentai"] + record["sexy"])
        assert record["top"] == max(CLASSES, key=record.get)
        assert record["verdict"] == "safe" and record["model"] == "mobilenet_v2"
        data = (IMAGES / name).read_bytes()
        assert record["pdq"] == hash_frame(decode(data, Settings()).frames[0]).to_dict()  # what the API answers
    # no progress bar when stderr is not a terminal; the summary is there
    assert result.stderr.startswith(f"{len(IMAGE_NAMES)} images in ")
    assert f"classified: {len(IMAGE_NAMES)} (safe {len(IMAGE_NAMES)}, unknown 0, adult 0)" in result.stderr
    assert "img/s" not in result.stderr and "\r" not in result.stderr


def test_every_kind_of_source_in_one_run(tmp_path, httpserver):
    httpserver.expect_request("/cat.png").respond_with_data((IMAGES / "chelsea.png").read_bytes())
    httpserver.expect_request("/gone.jpg").respond_with_data("no", status=404)
    served, gone = httpserver.url_for("/cat.png"), httpserver.url_for("/gone.jpg")
    blocked = "http://169.254.169.254/latest/meta-data/"
    folder = tmp_path / "folder"
    folder.mkdir()
    shutil.copyfile(IMAGES / "retina.jpg", folder / "retina.jpg")
    shutil.copyfile(IMAGES / "coffee_224x224.png", folder / "coffee.data")  # a PNG by its bytes
    (folder / "notes.txt").write_text("not an image: skipped in a folder")
    listed = tmp_path / "list.txt"
    listed.write_text(f"{served}\n\n{IMAGES / 'camera_gray.png'}\n{blocked}\n")
    fifo = tmp_path / "fifo.jpg"
    os.mkfifo(fifo)
    big = tmp_path / "big.jpg"
    big.write_bytes((IMAGES / "astronaut_640x480.jpg").read_bytes() + b"\0" * 300_000)
    env = environ(
        NSFW_FETCH_ALLOW_NETS="127.0.0.1/32",
        NSFW_FETCH_ALLOW_PORTS=f"80,443,{httpserver.port}",
        NSFW_MAX_BYTES="300000",
        NSFW_TMP_DIR=str(tmp_path),
    )
    stdin = f"{IMAGES / 'chelsea.png'}\n{gone}\n"
    args = [str(IMAGES / "drawing_flat.png"), str(folder), f"@{listed}", "-", "missing.jpg", str(fifo), str(big)]
    result = run(*args, "README.md", env=env, stdin=stdin)
    assert result.returncode == 1, result.stderr
    got = by_source(result.stdout)
    classified = {
        str(IMAGES / "drawing_flat.png"),
        str(folder / "coffee.data"),
        str(folder / "retina.jpg"),
        served,
        str(IMAGES / "camera_gray.png"),
        str(IMAGES / "chelsea.png"),
    }
    failed = {
        blocked: "blocked_address",
        gone: "upstream_status",
        "missing.jpg": "unreadable",
        str(fifo): "unreadable",  # not read, so never waited on
        str(big): "too_large",
        "README.md": "unsupported_media",
    }
    assert set(got) == classified | set(failed)
    for source in classified:
        assert set(got[source]) == SUCCESS_KEYS, got[source]
    for source, code in failed.items():
        assert set(got[source]) == {"source", "error"} and got[source]["error"]["code"] == code, got[source]
    assert got[served]["neutral"] == pytest.approx(got[str(IMAGES / "chelsea.png")]["neutral"])
    assert "12 images in" in result.stderr and "classified: 6 (safe 6, unknown 0, adult 0)" in result.stderr
    assert "failed: 6 (" in result.stderr and "blocked_address 1" in result.stderr and "unreadable 2" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.jpg", "fifo.jpg", "folder", "list.txt"]


def test_csv_into_a_file(tmp_path):
    out = tmp_path / "out.csv"
    result = run("--format", "csv", "--output", str(out), str(IMAGES / "chelsea.png"), "missing.jpg")
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert tuple(rows[0]) == records.COLUMNS
    rows = {row["source"]: row for row in rows}
    assert rows["missing.jpg"]["error_code"] == "unreadable" and rows["missing.jpg"]["verdict"] == ""
    cat = rows[str(IMAGES / "chelsea.png")]
    assert float(cat["neutral"]) > 0.9 and cat["verdict"] == "safe" and cat["top"] == "neutral"
    assert cat["error_code"] == cat["error_message"] == ""
    pdq = hash_frame(decode((IMAGES / "chelsea.png").read_bytes(), Settings()).frames[0])
    assert (cat["pdq"], int(cat["pdq_quality"])) == (pdq.hash, pdq.quality)
    assert rows["missing.jpg"]["pdq"] == rows["missing.jpg"]["pdq_quality"] == ""


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_resume_continues_a_killed_run(tmp_path, fmt):
    folder = copies(tmp_path / "folder", 5)
    out = tmp_path / f"out.{fmt}"
    first = run("--format", fmt, "--output", str(out), str(folder / "0000.jpg"), str(folder / "0001.jpg"))
    assert first.returncode == 0, first.stderr
    whole = out.read_bytes()
    out.write_bytes(whole + whole.splitlines(keepends=True)[-1][:30])  # the start of a third record, cut short
    resumed = run("--format", fmt, "--output", str(out), "--resume", str(folder))
    assert resumed.returncode == 0, resumed.stderr
    assert "3 images in" in resumed.stderr and "skipped: 2" in resumed.stderr
    text = out.read_text()
    if fmt == "jsonl":
        sources = [json.loads(line)["source"] for line in text.splitlines()]
    else:
        sources = [row["source"] for row in csv.DictReader(io.StringIO(text))]
    assert sorted(sources) == [str(folder / f"{i:04d}.jpg") for i in range(5)]
    again = run("--format", fmt, "--output", str(out), "--resume", str(folder))
    assert again.returncode == 0 and "0 images in" in again.stderr and "skipped: 5" in again.stderr
    assert out.read_text() == text


def test_one_job_and_two_give_the_same_scores():
    one, two = run("--jobs", "1", "tests/data/images"), run("--jobs", "2", "tests/data/images")
    assert one.returncode == two.returncode == 0, one.stderr + two.stderr
    assert by_source(one.stdout) == by_source(two.stdout)


@pytest.mark.parametrize(
    "args",
    [
        ["--resume", "x.jpg"],  # nothing to resume
        ["@no-such-list.txt"],
        ["-", "x.jpg", "-"],
        ["--jobs", "0", "x.jpg"],
        ["--jobs", "two", "x.jpg"],
        ["--format", "xml", "x.jpg"],
        ["--output", "README.md", "--resume", "x.jpg"],  # not an output of this command
        ["--output", "/nonexistent/dir/out.jsonl", "x.jpg"],
    ],
)
def test_usage_errors_exit_2_before_any_work(args):
    before = (ROOT / "README.md").read_bytes()
    result = run(*args)
    assert result.returncode == 2, result.stderr
    assert result.stdout == "" and "error:" in result.stderr
    assert (ROOT / "README.md").read_bytes() == before


def test_quiet_writes_nothing_to_stderr():
    result = run("--quiet", str(IMAGES / "chelsea.png"), "missing.jpg")
    assert result.returncode == 1
    assert result.stderr == ""
    assert len(result.stdout.splitlines()) == 2


def read_terminal(fd):
    out = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the other side is closed
            return out.decode(errors="replace")
        if not chunk:
            return out.decode(errors="replace")
        out += chunk


@pytest.mark.parametrize(
    ("quiet", "rows", "columns"),
    [(False, 24, 100), (False, 0, 0), (True, 24, 100)],
    ids=["terminal", "terminal-without-a-size", "quiet"],
)
def test_progress_on_a_terminal(quiet, rows, columns):
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    proc = subprocess.Popen(
        command(*(["--quiet"] if quiet else []), "tests/data/images"),
        cwd=ROOT,
        env=environ(TERM="xterm"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
    )
    os.close(slave)
    try:
        terminal = read_terminal(master)
        stdout = proc.communicate(timeout=180)[0].decode()
    finally:
        os.close(master)
    assert proc.returncode == 0, terminal
    assert len(by_source(stdout)) == len(IMAGE_NAMES)  # stdout holds nothing but records
    n = len(IMAGE_NAMES)
    if quiet:
        assert terminal == ""
    else:
        assert f"{n}/{n}" in terminal and "img/s" in terminal and "errors=0" in terminal, terminal
        assert f"{n} images in" in terminal  # then the summary


def descendants_alive(marker):
    """Processes that carry ``marker`` in their environment: what the command started."""
    alive = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                if marker.encode() in fh.read():
                    alive.append(int(pid))
        except OSError:
            pass
    return alive


def long_run(tmp_path, count: int, **popen):
    """``classify --jobs 2`` of ``count`` images into out.jsonl, started, with an environment
    marker that finds its processes in /proc; (process, folder, out, marker, env)."""
    folder = copies(tmp_path / "folder", count)
    out = tmp_path / "out.jsonl"
    marker = f"NSFW_CLI_TEST_RUN={uuid.uuid4()}"
    env = environ(NSFW_CACHE_SIZE="0", **dict([marker.split("=")]))
    proc = subprocess.Popen(
        command("--jobs", "2", "--output", str(out), str(folder)),
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **popen,
    )
    return proc, folder, out, marker, env


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_finishes_the_images_in_flight_and_resume_completes(tmp_path, sig):
    count = 300
    # a process group of its own, like a shell's job
    proc, folder, out, marker, env = long_run(tmp_path, count, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (out.exists() and out.stat().st_size) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        assert proc.poll() is None, "finished before it could be interrupted"
        if sig == signal.SIGINT:
            os.killpg(proc.pid, sig)  # what Ctrl-C on a terminal does: the whole group
        else:
            proc.send_signal(sig)  # what a service manager does: the main process
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 128 + sig, stderr.decode()
    stderr = stderr.decode()
    assert f"interrupted by {sig.name}" in stderr and "--resume" in stderr and "died" not in stderr, stderr
    assert stdout == b""
    got = by_source(out.read_text())  # every line whole
    assert 0 < len(got) < count
    assert all(set(record) == SUCCESS_KEYS for record in got.values())
    assert descendants_alive(marker) == []  # workers and their decoders are gone

    resumed = run("--output", str(out), "--resume", str(folder), env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert f"skipped: {len(got)}" in resumed.stderr
    assert sorted(by_source(out.read_text())) == [str(folder / f"{i:04d}.jpg") for i in range(count)]


def children(pid):
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as fh:
                if int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
        except (OSError, ValueError, IndexError):
            pass
    return found


def test_a_worker_that_dies_loses_only_its_images_and_resume_retries_them(tmp_path):
    count = 300
    proc, folder, out, marker, env = long_run(tmp_path, count)
    try:
        deadline = time.monotonic() + 120
        while not (out.exists() and out.stat().st_size) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        assert proc.poll() is None, "finished before a worker could be killed"
        workers = [pid for pid in children(proc.pid) if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        assert len(workers) == 2
        os.kill(workers[0], signal.SIGKILL)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = stderr.decode()
    assert proc.returncode == 1, stderr
    assert "a worker process died" in stderr and "--resume" in stderr, stderr
    got = by_source(out.read_text())
    assert 0 < len(got) < count and all(set(record) == SUCCESS_KEYS for record in got.values())
    deadline = time.monotonic() + 10  # the dead worker's decoders see their pipe close
    while descendants_alive(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert descendants_alive(marker) == []

    resumed = run("--output", str(out), "--resume", str(folder), env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(by_source(out.read_text())) == [str(folder / f"{i:04d}.jpg") for i in range(count)]
