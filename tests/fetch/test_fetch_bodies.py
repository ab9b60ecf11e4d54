"""What the fetcher reads: bodies, encodings, caps, upstream failures, and no leaked sockets or files.

Against the allowed server of conftest.py and raw loopback servers, with the connection guard armed.
"""

import contextlib
import gc
import gzip
import os
import threading
import time
import tracemalloc

import pytest
from fetch_helpers import GZIP, drip, endless, fetch_bytes, free_port, open_sockets, read_request, resolve_to, respond
from werkzeug import Response

from nsfw.errors import BlockedAddress, FetchFailed, FetchTimeout, TooLarge, UpstreamStatus

pytestmark = pytest.mark.usefixtures("_checks")


# --- success ------------------------------------------------------------------
def test_returns_exactly_the_served_bytes(server, fetcher):
    payload = os.urandom(5000)
    server.expect_request("/img.jpg").respond_with_data(payload, content_type="image/jpeg")
    with fetcher.fetch(f"http://127.0.0.1:{server.port}/img.jpg") as body:
        assert body._rolled  # bigger than spool_bytes: went to a file in tmp_dir
        assert body.read() == payload


def test_large_body(server, fetcher):
    payload = os.urandom(3 * 1024 * 1024)
    server.expect_request("/big").respond_with_data(payload)
    assert fetch_bytes(fetcher, f"http://127.0.0.1:{server.port}/big") == payload


def test_body_exactly_at_the_cap(server, make_fetcher):
    server.expect_request("/cap").respond_with_data(b"x" * 4096)
    assert fetch_bytes(make_fetcher(max_bytes=4096), f"http://127.0.0.1:{server.port}/cap") == b"x" * 4096


def test_sends_host_user_agent_and_identity_encoding(server, make_fetcher):
    seen = {}

    def handler(request):
        seen.update(request.headers)
        return Response(b"ok")

    server.expect_request("/h").respond_with_handler(handler)
    fetcher = make_fetcher(resolver=resolve_to("127.0.0.1"), user_agent="probe-agent/2")
    assert fetch_bytes(fetcher, f"http://Images.Test:{server.port}/h?a=1") == b"ok"
    assert seen["Host"] == f"images.test:{server.port}"
    assert seen["User-Agent"] == "probe-agent/2"
    assert seen["Accept-Encoding"] == "identity"
    assert "Cookie" not in seen


def test_gzip_despite_identity_is_decoded(server, fetcher):
    payload = b"abc" * 10000
    server.expect_request("/z").respond_with_data(gzip.compress(payload), headers=GZIP)
    assert fetch_bytes(fetcher, f"http://127.0.0.1:{server.port}/z") == payload


def keep_alive(conn, stop):
    served = 0
    while not stop.is_set() and read_request(conn):
        served += 1
        body = str(served).encode()
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))


def test_corrupt_compressed_body(server, fetcher):
    server.expect_request("/bad").respond_with_data(b"not gzip at all", headers=GZIP)
    with pytest.raises(FetchFailed, match="decompress"):
        fetch_bytes(fetcher, f"http://127.0.0.1:{server.port}/bad")


def test_keep_alive_connection_is_reused(raw_servers, make_fetcher):
    srv = raw_servers(keep_alive)
    fetcher = make_fetcher(resolver=resolve_to("127.0.0.1"))
    assert fetch_bytes(fetcher, f"http://127.0.0.1:{srv.port}/a") == b"1"
    assert fetch_bytes(fetcher, f"http://127.0.0.1:{srv.port}/b") == b"2"
    assert srv.hits == 1
    # another name on the same address and port gets its own pool (and Host)
    assert fetch_bytes(fetcher, f"http://other.test:{srv.port}/c") == b"1"
    assert srv.hits == 2


def test_concurrent_fetches(server, fetcher):
    bodies = {i: os.urandom(2000 + i) for i in range(8)}
    for i, payload in bodies.items():
        server.expect_request(f"/c{i}").respond_with_data(payload)
    failures = []

    def work(i):
        for _ in range(5):
            if fetch_bytes(fetcher, f"http://127.0.0.1:{server.port}/c{i}") != bodies[i]:
                failures.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert failures == []


def test_body_file_is_gone_after_the_block(server, fetcher):
    server.expect_request("/f").respond_with_data(os.urandom(4000))
    with fetcher.fetch(f"http://127.0.0.1:{server.port}/f") as body:
        pass
    assert body.closed
    with pytest.raises(RuntimeError), fetcher.fetch(f"http://127.0.0.1:{server.port}/f") as body:
        raise RuntimeError("the caller failed")
    assert body.closed


# --- failures -----------------------------------------------------------------
@pytest.mark.parametrize("status", [404, 500, 304])
def test_upstream_status(server, fetcher, status):
    server.expect_request("/s").respond_with_data("no", status)
    with pytest.raises(UpstreamStatus, match=str(status)):
        fetch_bytes(fetcher, f"http://127.0.0.1:{server.port}/s")


def test_connection_refused(fetcher):
    with pytest.raises(FetchFailed, match="connect"):
        fetch_bytes(fetcher, f"http://127.0.0.1:{free_port()}/")


def test_oversize_content_length_refused_before_the_body(raw_servers, make_fetcher):
    headers = b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\n"
    srv = raw_servers(respond(headers))  # sends no body at all: reading one would time out
    started = time.monotonic()
    with pytest.raises(TooLarge):
        fetch_bytes(make_fetcher(max_bytes=10_000), f"http://127.0.0.1:{srv.port}/")
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    "handler",
    [
        endless(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"4000\r\n" + b"x" * 0x4000 + b"\r\n",
        ),
        endless(b"HTTP/1.0 200 OK\r\n\r\n", b"x" * 65536),  # no length: read until close
    ],
    ids=["chunked", "until-close"],
)
def test_endless_body(raw_servers, make_fetcher, handler):
    srv = raw_servers(handler)
    with pytest.raises(TooLarge):
        fetch_bytes(make_fetcher(max_bytes=100_000), f"http://127.0.0.1:{srv.port}/")


def test_body_beyond_content_length_is_ignored(raw_servers, make_fetcher):
    srv = raw_servers(endless(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n", b"x" * 65536))
    assert fetch_bytes(make_fetcher(max_bytes=100_000), f"http://127.0.0.1:{srv.port}/") == b"x" * 5000


def test_gzip_bomb_is_refused_with_bounded_memory(server, fetcher):
    member = gzip.compress(bytes(16 * 1024 * 1024), 9)
    bomb = member * 64  # 1 GiB of zeros in ~1 MB
    server.expect_request("/bomb").respond_with_data(bomb, headers=GZIP)
    tracemalloc.start()
    try:
        with pytest.raises(TooLarge):
            fetch_bytes(fetcher, f"http://127.0.0.1:{server.port}/bomb")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * 1024 * 1024


def test_truncated_body(raw_servers, fetcher):
    srv = raw_servers(respond(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", hang_up=True))
    with pytest.raises(FetchFailed):
        fetch_bytes(fetcher, f"http://127.0.0.1:{srv.port}/")


# --- no leaks -----------------------------------------------------------------
def test_failures_leak_no_sockets(server, raw_servers, make_fetcher):
    server.expect_request("/404").respond_with_data("no", 404)
    server.expect_request("/loop").respond_with_data("", 302, {"Location": "/loop"})
    server.expect_request("/bomb").respond_with_data(gzip.compress(bytes(1 << 20)), headers=GZIP)
    big = raw_servers(respond(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\n"))
    stream = raw_servers(endless(b"HTTP/1.0 200 OK\r\n\r\n", b"x" * 65536))
    slow = raw_servers(drip(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", b"x" * 100, 0.2))
    short = raw_servers(respond(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", hang_up=True))
    time.sleep(0.1)
    baseline = open_sockets()
    fetcher = make_fetcher(max_bytes=100_000, fetch_timeout=0.5)
    p = server.port
    cases = [
        (f"http://127.0.0.1:{p}/404", UpstreamStatus),
        (f"http://127.0.0.1:{p}/loop", FetchFailed),
        (f"http://127.0.0.1:{p}/bomb", TooLarge),
        (f"http://127.0.0.1:{big.port}/", TooLarge),
        (f"http://127.0.0.1:{stream.port}/", TooLarge),
        (f"http://127.0.0.1:{slow.port}/", FetchTimeout),
        (f"http://127.0.0.1:{short.port}/", FetchFailed),
        (f"http://127.0.0.1:{free_port()}/", FetchFailed),
        (f"http://127.0.0.2:{p}/", BlockedAddress),
    ]
    gc.disable()  # a response left unclosed must show up, not be tidied away by the collector
    try:
        for _ in range(3):
            for url, error in cases:
                with pytest.raises(error):
                    fetch_bytes(fetcher, url)
        give_up = time.monotonic() + 3  # the servers close their ends in their own threads
        while open_sockets() > baseline and time.monotonic() < give_up:
            time.sleep(0.05)
        assert open_sockets() <= baseline
    finally:
        gc.enable()


def test_successes_keep_only_pooled_sockets(server, fetcher):
    server.expect_request("/ok").respond_with_data(os.urandom(3000))
    time.sleep(0.1)
    baseline = open_sockets()
    for _ in range(5):
        fetch_bytes(fetcher, f"http://127.0.0.1:{server.port}/ok")
    fetcher.close()
    give_up = time.monotonic() + 3
    while open_sockets() > baseline and time.monotonic() < give_up:
        time.sleep(0.05)
    assert open_sockets() <= baseline


def empty_deflate_blocks(conn, stop):
    """gzip that never inflates to a byte: a header, then empty stored blocks, forever."""
    read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Type: image/jpeg\r\n\r\n")
    conn.sendall(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff")
    block = b"\x00\x00\x00\xff\xff" * 13000  # 65 KB of non-final empty blocks
    with contextlib.suppress(OSError):
        while not stop.is_set():
            conn.sendall(block)


def test_endless_empty_deflate_blocks_hit_the_raw_byte_cap_at_once(raw_servers, make_fetcher):
    srv = raw_servers(empty_deflate_blocks)
    fetcher = make_fetcher(resolver=resolve_to("127.0.0.1"), max_bytes=2 * 1024 * 1024, fetch_timeout=10)
    cpu, started = time.process_time(), time.monotonic()
    with pytest.raises(TooLarge):
        fetch_bytes(fetcher, f"http://127.0.0.1:{srv.port}/")
    assert time.monotonic() - started < 3 and time.process_time() - cpu < 2


def test_unknown_content_encodings_are_refused(server, fetcher):
    server.expect_request("/br").respond_with_data(b"\x0b\x02\x80hello\x03", headers={"Content-Encoding": "br"})
    with pytest.raises(FetchFailed, match="Content-Encoding"):
        fetch_bytes(fetcher, f"http://127.0.0.1:{server.port}/br")
