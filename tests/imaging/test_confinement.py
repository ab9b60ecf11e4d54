"""The decoder's confinement, probed from inside: each thing a subverted decoder would try is refused.

A real worker-like process (holding an NSFW_* secret in its environment, made non-dumpable as
gunicorn's post_fork makes a worker) forks a probe that applies ``confine_decoder()`` exactly as
the decoder does after its setup, then tries: reading the parent's environment and memory,
opening a file for writing, creating one, mapping a file shared and writable, connecting to a
loopback server, opening a Unix socket, ptrace and signals to the parent. The same probe
unconfined (today's decoder) succeeds at them, so the test shows what the confinement changes.
The real decoder processes are checked to run under the same filter, as nobody when root.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from helpers import IMAGES

from nsfw.imaging import confinement
from nsfw.imaging.sandbox import DecoderPool
from nsfw.settings import Settings

pytestmark = pytest.mark.skipif(not confinement.seccomp_available(), reason="needs libseccomp2 (Debian: libseccomp2)")
ROOT = Path(__file__).resolve().parents[2]
SECRET = "probe-secret-4b1d"

# Run as `python -c WORKER <as_nobody> <non_dumpable> <confine> <dir> <port>`: every import first
# (as nobody the interpreter's own files may be unreadable), then the worker's state, then a fork.
WORKER = r"""
import ctypes, errno, json, mmap, os, socket, sys
from nsfw.imaging import confinement
import pyseccomp

as_nobody, non_dumpable, confine = (arg == "1" for arg in sys.argv[1:4])
directory, port = sys.argv[4], int(sys.argv[5])
libc = ctypes.CDLL(None, use_errno=True)
if as_nobody:
    confinement.drop_root()
if non_dumpable:
    confinement.non_dumpable()
else:  # as a worker is today (a change of user alone would have made it non-dumpable)
    libc.prctl(4, 1, 0, 0, 0)

def attempt(action):
    try:
        action()
        return "allowed"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))

def ptrace_parent():
    # PTRACE_SEIZE: attached without stopping the parent; detached when this probe exits
    if libc.ptrace(0x4206, os.getppid(), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "ptrace")

def environ():
    with open(f"/proc/{os.getppid()}/environ", "rb") as fh:
        assert b"NSFW_SECRET_KEY" in fh.read()

def mem():
    with open(f"/proc/{os.getppid()}/mem", "rb") as fh:
        fh.seek(id(environ))
        fh.read(1)

def shared_writable_map():
    fd = os.open(os.path.join(directory, "target"), os.O_RDWR)
    try:
        mmap.mmap(fd, 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE)[0:1] = b"X"
    finally:
        os.close(fd)

def connect():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as conn:  # no name lookup: no lazy imports
        conn.settimeout(2)
        conn.connect(("127.0.0.1", port))
        conn.sendall(b"poison")

read_end, write_end = os.pipe()
child = os.fork()
if child == 0:
    os.close(read_end)
    if confine:
        confinement.confine_decoder()
    target = os.path.join(directory, "target")
    results = {
        "read_parent_environ": attempt(environ),
        "read_parent_memory": attempt(mem),
        "open_for_writing": attempt(lambda: open(target, "r+b").close()),
        "create_a_file": attempt(lambda: open(os.path.join(directory, "new"), "xb").close()),
        "map_shared_writable": attempt(shared_writable_map),
        "connect_to_loopback": attempt(connect),
        "unix_socket": attempt(lambda: socket.socket(socket.AF_UNIX).close()),
        "ptrace_parent": attempt(ptrace_parent),
        "signal_parent": attempt(lambda: os.kill(os.getppid(), 0)),
        "uid": os.getuid(),
    }
    os.write(write_end, json.dumps(results).encode())
    os._exit(0)
os.close(write_end)
os.waitpid(child, 0)
print(os.read(read_end, 65536).decode())
"""

ATTEMPTS = (
    "read_parent_environ",
    "read_parent_memory",
    "open_for_writing",
    "create_a_file",
    "map_shared_writable",
    "connect_to_loopback",
    "unix_socket",
    "ptrace_parent",
    "signal_parent",
)
# refused by the seccomp filter itself (EPERM, before any permission check); the parent's environment
# and memory by the kernel's ptrace access check (a non-dumpable parent, or another user)
BY_THE_FILTER = (
    "open_for_writing",
    "create_a_file",
    "map_shared_writable",
    "connect_to_loopback",
    "unix_socket",
    "ptrace_parent",
    "signal_parent",
)


@pytest.fixture
def directory():
    """A directory any user may reach (pytest's own is root's only), with a file everyone may write."""
    path = tempfile.mkdtemp(prefix="nsfw-probe-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    try:
        os.chmod(path, 0o777)
        target = Path(path, "target")
        target.write_bytes(b"original")
        target.chmod(0o666)
        yield path
        assert target.read_bytes() == b"original"
        assert sorted(os.listdir(path)) == ["target"]
    finally:
        shutil.rmtree(path)


@pytest.fixture
def listener():
    """A loopback server; what it received is checked after the probe."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    yield server
    server.close()


def probe(directory: str, listener, *, as_nobody: bool, non_dumpable: bool, confine: bool) -> dict:
    args = [str(int(flag)) for flag in (as_nobody, non_dumpable, confine)]
    env = {**os.environ, "NSFW_SECRET_KEY": SECRET, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", WORKER, *args, directory, str(listener.getsockname()[1])],
        env=env,
        capture_output=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)


def received(listener) -> bytes:
    try:
        conn, _ = listener.accept()
    except TimeoutError:
        return b""
    with conn:
        conn.settimeout(1)
        return conn.recv(100)


@pytest.mark.parametrize("as_nobody", [False, True], ids=["service-as-its-user", "service-as-nobody"])
def test_a_confined_decoder_is_refused_each_attempt(directory, listener, as_nobody):
    """The service as root (decoders drop to nobody) and as an ordinary user (here: nobody)."""
    if os.geteuid() != 0:
        pytest.skip("starts the worker as root or as nobody")
    results = probe(directory, listener, as_nobody=as_nobody, non_dumpable=True, confine=True)
    assert results["uid"] == confinement.NOBODY
    refused = {name: results[name] for name in ATTEMPTS}
    assert "allowed" not in refused.values(), refused
    assert {name: refused[name] for name in BY_THE_FILTER} == dict.fromkeys(BY_THE_FILTER, "EPERM")
    assert refused["read_parent_environ"] == refused["read_parent_memory"] == "EACCES"
    assert received(listener) == b""


def test_unconfined_the_same_probe_gets_through(directory, listener):
    """Today's decoder, for contrast: a dumpable worker of the same user, no filter."""
    if os.geteuid() != 0:
        pytest.skip("starts the worker as nobody")
    results = probe(directory, listener, as_nobody=True, non_dumpable=False, confine=False)
    got_through = (*ATTEMPTS[:7], "signal_parent")  # and ptrace, unless Yama refuses it to a child
    assert {name: results[name] for name in got_through} == dict.fromkeys(got_through, "allowed")
    assert received(listener) == b"poison"
    assert Path(directory, "target").read_bytes() == b"Xriginal"  # overwritten through the shared map
    os.unlink(os.path.join(directory, "new"))
    Path(directory, "target").write_bytes(b"original")


def settled_status(pid: int, timeout: float = 30) -> dict:
    """/proc/<pid>/status once the decoder has done its setup (it confines itself at the end of it)."""
    deadline = time.monotonic() + timeout
    while True:
        text = Path(f"/proc/{pid}/status").read_text()
        status = dict(line.split(":\t", 1) for line in text.splitlines())
        if status["Seccomp"] != "0" or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


def test_the_real_decoders_run_under_the_filter_and_still_decode():
    pool = DecoderPool(Settings(decoders=1))
    try:
        pool.start()
        data = (IMAGES / "chelsea.png").read_bytes()
        assert pool.prepare(data, 224, time.monotonic() + 30).format == "PNG"
        pids = pool.pids()
        assert len(pids) == 2  # the general decoder and the express one
        for pid in pids:
            status = settled_status(pid)
            assert status["Seccomp"] == "2" and status["NoNewPrivs"] == "1"
            if os.geteuid() == 0:
                assert status["Uid"].split() == [str(confinement.NOBODY)] * 4
    finally:
        pool.close()


def test_gunicorn_workers_are_made_non_dumpable():
    """post_fork, as gunicorn calls it in each new worker (here in a forked child of the test)."""
    from nsfw.server import gunicorn_conf

    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - reported through the pipe
        import ctypes

        gunicorn_conf.post_fork(None, None)
        os.write(write_end, str(ctypes.CDLL(None).prctl(3, 0, 0, 0, 0)).encode())  # PR_GET_DUMPABLE
        os._exit(0)
    os.close(write_end)
    os.waitpid(child, 0)
    with os.fdopen(read_end, "rb") as pipe:
        assert pipe.read() == b"0"
