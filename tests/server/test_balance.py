"""Connections spread over the workers (nsfw.server.balance), under real gunicorn with the repo's config."""

from __future__ import annotations

import os
import signal
import socket
import time

import gunicorn_helpers
import pytest
from gunicorn_helpers import free_port, stop, worker_pids

from nsfw.server import balance

pytestmark = pytest.mark.slow


@pytest.fixture
def two_workers(tmp_path):
    port = free_port()
    env = dict(os.environ, PORT=str(port), WEB_CONCURRENCY="2", NSFW_TMP_DIR=str(tmp_path))
    proc = gunicorn_helpers.start(env, port)
    proc.port = port
    _wait_for_both_workers(proc.pid, port)
    yield proc
    log = stop(proc)
    assert proc.returncode == 0, log


def _request(sock: socket.socket, path: str = "/ready") -> bytes:
    """One keep-alive GET on ``sock``; the whole response (head and body)."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    length = next(int(line.split(b":")[1]) for line in lines if line.startswith(b"content-length"))
    while len(body) < length:
        body += sock.recv(65536)
    return head


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    _request(sock)  # answered: some worker has accepted it
    return sock


def _wait_closed(port: int, timeout: float = 30) -> None:
    """Until the workers have closed every connection to ``port`` (and so counted it gone)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open("/proc/net/tcp") as table:
            rows = [line.split() for line in table.readlines()[1:]]
        # server side of a connection: local port is the service's; 01 ESTABLISHED, 08 CLOSE_WAIT
        if not any(r[1].endswith(f":{port:04X}") and r[3] in ("01", "08") for r in rows):
            return
        time.sleep(0.05)
    pytest.fail("the workers kept connections the client had closed")


def _serving_worker(master: int, port: int, client: socket.socket) -> int:
    """The worker pid holding the server side of ``client``'s connection (from /proc, IPv4 loopback)."""
    client_port = client.getsockname()[1]
    wanted = (f"0100007F:{port:04X}", f"0100007F:{client_port:04X}")
    inode = None
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            if (fields[1], fields[2]) == wanted:
                inode = fields[9]
    assert inode, "no server-side socket for this connection"
    for pid in worker_pids(master):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    raise AssertionError("no worker holds this connection")


def _wait_for_both_workers(master: int, port: int, timeout: float = 60) -> None:
    """/ready answers once one worker has loaded its model; the other may still be loading (and not
    accepting). Holding one connection, new ones go to the other worker once it runs."""
    held = _connect(port)
    try:
        first = _serving_worker(master, port, held)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with _connect(port) as probe:
                if _serving_worker(master, port, probe) != first:
                    return
            time.sleep(0.1)
        pytest.fail("the second worker never accepted a connection")
    finally:
        held.close()
        _wait_closed(port)


def test_two_keepalive_connections_land_on_two_workers(two_workers):
    master, port = two_workers.pid, two_workers.port
    for _ in range(5):  # not luck: every time
        first = _connect(port)
        second = _connect(port)
        try:
            held = {_serving_worker(master, port, s) for s in (first, second)}
            assert len(held) == 2, "both connections are on one worker"
            for sock in (first, second):  # and they stay usable
                assert _request(sock).startswith(b"HTTP/1.1 200")
        finally:
            first.close()
            second.close()
        _wait_closed(port)  # both workers count their connection gone


def test_eight_connections_split_four_and_four(two_workers):
    master, port = two_workers.pid, two_workers.port
    socks = [_connect(port) for _ in range(8)]
    try:
        holders = [_serving_worker(master, port, s) for s in socks]
        assert sorted(holders.count(pid) for pid in set(holders)) == [4, 4]
    finally:
        for sock in socks:
            sock.close()


def test_a_stopped_worker_delays_no_one_and_gets_connections_back(two_workers):
    """While one worker is stopped the other still accepts (at once, once the stopped one is stale);
    once it is back, the loaded worker closes a connection after answering on it, and the client's
    new connection goes to the worker with fewer."""
    master, port = two_workers.pid, two_workers.port
    first = _connect(port)
    holder = _serving_worker(master, port, first)
    (other,) = worker_pids(master) - {holder}
    os.kill(other, signal.SIGSTOP)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as early:  # other is stopped but fresh
            assert _request(early).startswith(b"HTTP/1.1 200")
        time.sleep(balance.STALE + 0.5)
        more = [_connect(port) for _ in range(2)]
    finally:
        os.kill(other, signal.SIGCONT)
    socks = [first, *more]
    try:
        assert {_serving_worker(master, port, s) for s in socks} == {holder}
        time.sleep(balance.BEAT + 0.5)  # the other worker's poller looks in again
        head = _request(more[-1])
        assert b"connection: close" in head.lower(), head
        again = _connect(port)
        socks.append(again)
        assert _serving_worker(master, port, again) == other
        assert b"connection: close" not in _request(again).lower()
    finally:
        for sock in socks:
            sock.close()


def test_the_table_says_whose_turn_it_is():
    """Two rows of the real shared table, as two workers would hold them."""
    a, b = balance.Balancer(balance.ROWS - 2), balance.Balancer(balance.ROWS - 1)
    try:
        a.publish(3)
        b.publish(1)
        assert not a.my_turn(3) and b.my_turn(1)
        assert a.should_shed(3) and not b.should_shed(1)
        b.publish(3)
        assert a.my_turn(3) and b.my_turn(3) and not a.should_shed(3)
        b.leave()
        assert a.least_of_others() is None and a.my_turn(3)  # alone: always its turn
    finally:
        a.leave()
        b.leave()
