"""The fetcher against real loopback sockets.

An ALLOWED server listens on 127.0.0.1 (the only exempted address) and a
CANARY on 127.0.0.2 at the same port, so that any way of reaching a
non-public address, spelled however, would land on the canary. An audit hook
records every socket connect during these tests and refuses any target
outside loopback, so no test can reach another machine even by mistake.
"""

import contextlib
import gc
import gzip
import ipaddress
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import tracemalloc

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from nsfw.errors import (
    BlockedAddress,
    FetchFailed,
    FetchTimeout,
    InvalidURL,
    TooLarge,
    UpstreamStatus,
)
from nsfw.fetch import urls
from nsfw.fetch.fetcher import Fetcher
from nsfw.settings import Settings

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
PORTS = frozenset({80, 443, *range(1024, 65536)})
GZIP = {"Content-Encoding": "gzip"}


# --- connection guard ------------------------------------------------------
class Guard:
    active = False
    connects: list = []


def _audit(event, args):
    if not Guard.active or event != "socket.connect":
        return
    address = args[1]
    if not isinstance(address, tuple):
        return
    Guard.connects.append(address[0])
    try:
        ip = ipaddress.ip_address(address[0])
    except ValueError:
        raise RuntimeError(f"test guard: connect by name {address[0]!r} refused") from None
    ip = getattr(ip, "ipv4_mapped", None) or ip
    if not (ip in LOOPBACK if ip.version == 4 else ip == ipaddress.ip_address("::1")):
        raise RuntimeError(f"test guard: connect to {ip} refused")


sys.addaudithook(_audit)


# --- servers ---------------------------------------------------------------
class RawServer:
    """A TCP server on a loopback address running ``handler(conn, stop)`` per connection."""

    def __init__(self, handler, host="127.0.0.1", port=0):
        self.handler, self.hits, self.stop = handler, 0, threading.Event()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(16)
        self.sock.settimeout(0.05)
        self.host, self.port = host, self.sock.getsockname()[1]
        self.threads = [threading.Thread(target=self._serve, daemon=True)]
        self.threads[0].start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.hits += 1
            thread = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _handle(self, conn):
        with conn:
            conn.settimeout(5)
            try:
                self.handler(conn, self.stop)
            except OSError:
                pass

    def close(self):
        self.stop.set()
        for thread in self.threads:
            thread.join(5)
        self.sock.close()


def read_request(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def respond(payload, hang_up=False):
    def handler(conn, stop):
        read_request(conn)
        conn.sendall(payload)
        while not hang_up and not stop.is_set() and conn.recv(4096):  # wait for the client to go
            pass

    return handler


@pytest.fixture(scope="module")
def server():
    srv = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    srv.start()
    yield srv
    srv.clear()
    srv.stop()


@pytest.fixture(scope="module")
def canary(server):
    srv = RawServer(respond(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\ncanary"), "127.0.0.2", server.port)
    yield srv
    srv.close()


@pytest.fixture
def raw_servers():
    made = []

    def make(handler):
        made.append(RawServer(handler))
        return made[-1]

    yield make
    for srv in made:
        srv.close()


@pytest.fixture
def spool_dir(tmp_path):
    path = tmp_path / "spool"
    path.mkdir()
    return path


@pytest.fixture
def settings(spool_dir):
    return Settings().replace(
        fetch_timeout=5.0,
        fetch_allow_nets=(ipaddress.ip_network("127.0.0.1/32"),),
        fetch_allow_ports=PORTS,
        spool_bytes=1024,
        tmp_dir=str(spool_dir),
    )


@pytest.fixture
def make_fetcher(settings):
    made = []

    def make(resolver=None, ca_bundle=None, **changes):
        made.append(Fetcher(settings.replace(**changes), resolver=resolver, ca_bundle=ca_bundle))
        return made[-1]

    yield make
    for fetcher in made:
        fetcher.close()


@pytest.fixture
def fetcher(make_fetcher):
    return make_fetcher()


@pytest.fixture(autouse=True)
def _checks(server, canary, spool_dir):
    server.clear()
    hits_before = canary.hits
    Guard.connects = []
    Guard.active = True
    yield
    Guard.active = False
    assert canary.hits == hits_before, "the canary on 127.0.0.2 was reached"
    assert list(spool_dir.iterdir()) == [], "a temporary file was left behind"


def fetch_bytes(fetcher, url):
    with fetcher.fetch(url) as body:
        assert body.tell() == 0
        return body.read()


def resolve_to(*ips, calls=None):
    def resolver(host, port):
        if calls is not None:
            calls.append(host)
        return list(ips)

    return resolver


def open_sockets():
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return count


# --- probes that must never reach anything but the allowed server ------------
def probe_urls(port):
    p = port
    return [
        (f"http://127.0.0.2:{p}/", BlockedAddress),
        (f"http://2130706434:{p}/", BlockedAddress),
        (f"http://0x7f000002:{p}/", BlockedAddress),
        (f"http://0X7F000002:{p}/", BlockedAddress),
        (f"http://0177.0.0.2:{p}/", BlockedAddress),
        (f"http://0177.0000.0.02:{p}/", BlockedAddress),
        (f"http://127.2:{p}/", BlockedAddress),
        (f"http://127.0.2:{p}/", BlockedAddress),
        (f"http://0x7f.0.0.2:{p}/", BlockedAddress),
        (f"http://0x7f.2:{p}/", BlockedAddress),
        (f"http://127.0.0.2.:{p}/", BlockedAddress),
        (f"http://\uff11\uff12\uff17.\uff10.\uff10.\uff12:{p}/", BlockedAddress),  # fullwidth digits
        (f"http://127\u30020\u30020\u30022:{p}/", BlockedAddress),  # ideographic full stops
        (f"HTTP://127.0.0.2:{p}/", BlockedAddress),
        (f"http://0:{p}/", BlockedAddress),  # 0.0.0.0 reaches this host
        (f"http://0.0.0.0:{p}/", BlockedAddress),
        (f"http://[::1]:{p}/", BlockedAddress),
        (f"http://[::]:{p}/", BlockedAddress),
        (f"http://[::ffff:127.0.0.2]:{p}/", BlockedAddress),
        (f"http://[::ffff:7f00:2]:{p}/", BlockedAddress),
        (f"http://[::127.0.0.2]:{p}/", BlockedAddress),
        (f"http://[64:ff9b::7f00:2]:{p}/", BlockedAddress),
        (f"http://[2002:7f00:2::]:{p}/", BlockedAddress),
        (f"http://[fe80::1]:{p}/", BlockedAddress),
        ("http://169.254.169.254/latest/meta-data/", BlockedAddress),
        ("http://[::ffff:169.254.169.254]/", BlockedAddress),
        ("http://2852039166/", BlockedAddress),  # 169.254.169.254 in decimal
        ("http://10.0.0.1/", BlockedAddress),
        ("https://192.168.0.1/", BlockedAddress),
        ("http://127.0.0.1:22/", BlockedAddress),  # port not allowed
        (f"http://127.0.0.2:{p}#@127.0.0.1:{p}/", BlockedAddress),
        (f"http://evil@127.0.0.2:{p}/", InvalidURL),
        (f"http://user:pass@127.0.0.1:{p}/", InvalidURL),
        (f"http://127.0.0.1:{p}@127.0.0.2:{p}/", InvalidURL),
        (f"http://127.0.0.1:{p}\\@127.0.0.2:{p}/", InvalidURL),
        (f"http:\\\\127.0.0.2:{p}/", InvalidURL),
        (f"http://127.0.0.2\\:{p}/", InvalidURL),
        (f"http://127.0.0.2:{p}\t/", InvalidURL),
        (f"http://%31%32%37.0.0.2:{p}/", InvalidURL),
        (f"http://127.0.0.2:+{p}/", InvalidURL),
        (f"http://[::1%25lo]:{p}/", InvalidURL),
        (f"http://[127.0.0.2]:{p}/", InvalidURL),
        (f"http://127.0.0.0.2:{p}/", InvalidURL),
        (f"http://08.0.0.2:{p}/", InvalidURL),
        (f"http://foo.127:{p}/", InvalidURL),
        (f"http://:{p}/", InvalidURL),
        (f"http:///127.0.0.2:{p}/", InvalidURL),
        (f"//127.0.0.2:{p}/", InvalidURL),
        ("file:///etc/passwd", InvalidURL),
        (f"gopher://127.0.0.2:{p}/_GET", InvalidURL),
        (f"ftp://127.0.0.2:{p}/", InvalidURL),
        ("data:image/png;base64,iVBORw0KGgo=", InvalidURL),
        ("javascript:alert(1)", InvalidURL),
        (f"ws://127.0.0.2:{p}/", InvalidURL),
        ("", InvalidURL),
        ("not a url", InvalidURL),
    ]


def test_probes_are_refused_without_connecting(server, canary, fetcher):
    for url, error in probe_urls(server.port):
        with pytest.raises(error):
            fetch_bytes(fetcher, url)
        assert Guard.connects == [], url
    assert canary.hits == 0


@pytest.mark.parametrize("host", ["localhost", "localhost.", "LocalHost"])
def test_names_resolving_to_loopback_are_refused(server, canary, make_fetcher, host):
    fetcher = make_fetcher(fetch_allow_nets=())  # the system resolver, no exemption
    with pytest.raises(BlockedAddress):
        fetch_bytes(fetcher, f"http://{host}:{server.port}/")
    assert Guard.connects == []


def test_default_ports_only(server, make_fetcher):
    fetcher = make_fetcher(fetch_allow_ports=Settings().fetch_allow_ports)
    with pytest.raises(BlockedAddress, match="port"):
        fetch_bytes(fetcher, f"http://127.0.0.1:{server.port}/")


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.2:{p}/",
        "//127.0.0.2:{p}/x",
        "http://2130706434:{p}/",
        "http://[::ffff:127.0.0.2]:{p}/",
        "http://169.254.169.254/",
    ],
)
def test_redirect_to_non_public_is_refused(server, fetcher, location):
    server.expect_request("/go").respond_with_data("", 302, {"Location": location.format(p=server.port)})
    with pytest.raises(BlockedAddress):
        fetch_bytes(fetcher, f"http://127.0.0.1:{server.port}/go")
    assert Guard.connects == ["127.0.0.1"]


def test_redirect_to_bad_scheme_is_an_upstream_failure(server, fetcher):
    server.expect_request("/go").respond_with_data("", 301, {"Location": "file:///etc/passwd"})
    with pytest.raises(FetchFailed, match="redirected to an unsupported URL"):
        fetch_bytes(fetcher, f"http://127.0.0.1:{server.port}/go")


# --- DNS ----------------------------------------------------------------------
def test_dns_rebinding_cannot_reach_the_canary(server, canary, make_fetcher, monkeypatch):
    answers = iter([["127.0.0.1"]])
    calls = []

    def rebinding(host, port):  # first answer passes the check, every later one is the canary
        calls.append(host)
        return next(answers, ["127.0.0.2"])

    real_getaddrinfo = socket.getaddrinfo
    looked_up = []

    def getaddrinfo(host, *args, **kwargs):
        if str(host).rstrip(".").lower() == "rebind.test":
            looked_up.append(host)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.2", server.port))]
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    server.expect_request("/img").respond_with_data(b"allowed")
    fetcher = make_fetcher(resolver=rebinding)
    assert fetch_bytes(fetcher, f"http://rebind.test:{server.port}/img") == b"allowed"
    assert calls == ["rebind.test"]
    assert looked_up == []
    assert canary.hits == 0
    assert Guard.connects == ["127.0.0.1"]


@pytest.mark.parametrize(
    "answers",
    [
        ["8.8.8.8", "127.0.0.2"],
        ["127.0.0.2", "8.8.8.8"],
        ["127.0.0.1", "10.0.0.1"],
        ["127.0.0.1", "::1"],
        ["2606:4700:4700::1111", "fd00::1"],
        ["not-an-address"],
    ],
)
def test_any_non_public_answer_refuses_the_name(server, make_fetcher, answers):
    fetcher = make_fetcher(resolver=resolve_to(*answers))
    with pytest.raises(BlockedAddress):
        fetch_bytes(fetcher, f"http://mixed.test:{server.port}/")
    assert Guard.connects == []


def test_dns_failure(make_fetcher):
    def failing(host, port):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(FetchFailed, match="resolved"):
        fetch_bytes(make_fetcher(resolver=failing), "http://nowhere.test/")
    with pytest.raises(FetchFailed):
        fetch_bytes(make_fetcher(resolver=resolve_to()), "http://empty.test/")


def test_hanging_dns_times_out(make_fetcher):
    release = threading.Event()

    def hanging(host, port):
        release.wait(10)
        return ["127.0.0.1"]

    fetcher = make_fetcher(resolver=hanging, fetch_timeout=1.0)
    started = time.monotonic()
    try:
        with pytest.raises(FetchTimeout):
            fetch_bytes(fetcher, "http://slow-dns.test/")
        assert time.monotonic() - started < 1.0 + 0.5
    finally:
        release.set()


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


def test_ipv4_mapped_literal_of_allowed_address(server, fetcher):
    server.expect_request("/m").respond_with_data(b"mapped")
    assert fetch_bytes(fetcher, f"http://[::ffff:127.0.0.1]:{server.port}/m") == b"mapped"
    assert Guard.connects == ["127.0.0.1"]


def test_redirect_chain_within_the_limit(server, make_fetcher):
    p = server.port
    server.expect_request("/a/r1").respond_with_data("", 301, {"Location": "r2"})  # relative
    server.expect_request("/a/r2").respond_with_data("", 302, {"Location": f"//img.test:{p}/r3"})
    server.expect_request("/r3").respond_with_data("", 307, {"Location": "/final?x=1"})
    server.expect_request("/final", query_string="x=1").respond_with_data(b"done")
    calls = []
    fetcher = make_fetcher(resolver=resolve_to("127.0.0.1", calls=calls), max_redirects=3)
    assert fetch_bytes(fetcher, f"http://127.0.0.1:{p}/a/r1") == b"done"
    assert calls == ["img.test", "img.test"]  # once per hop on that name


def test_too_many_redirects(server, make_fetcher):
    for i in range(4):
        server.expect_request(f"/r{i}").respond_with_data("", 302, {"Location": f"/r{i + 1}"})
    server.expect_request("/r4").respond_with_data(b"never")
    with pytest.raises(FetchFailed, match="too many redirects"):
        fetch_bytes(make_fetcher(max_redirects=3), f"http://127.0.0.1:{server.port}/r0")


def test_redirect_loop(server, fetcher):
    server.expect_request("/loop").respond_with_data("", 302, {"Location": "/loop"})
    with pytest.raises(FetchFailed, match="too many redirects"):
        fetch_bytes(fetcher, f"http://127.0.0.1:{server.port}/loop")


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


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


def endless(head, chunk):
    def handler(conn, stop):
        read_request(conn)
        conn.sendall(head)
        while not stop.is_set():
            conn.sendall(chunk)

    return handler


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


def drip(head, body, interval):
    def handler(conn, stop):
        read_request(conn)
        conn.sendall(head)
        for byte in body:
            if stop.wait(interval):
                return
            conn.sendall(bytes([byte]))

    return handler


def assert_times_out(fetcher, url, deadline):
    started = time.monotonic()
    with pytest.raises(FetchTimeout):
        fetch_bytes(fetcher, url)
    elapsed = time.monotonic() - started
    assert deadline - 0.1 <= elapsed < deadline + 0.5


def test_slow_drip_body_hits_the_deadline(raw_servers, make_fetcher):
    srv = raw_servers(drip(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", b"x" * 100, 0.5))
    assert_times_out(make_fetcher(fetch_timeout=1.5), f"http://127.0.0.1:{srv.port}/", 1.5)


def test_slow_headers_hit_the_deadline(raw_servers, make_fetcher):
    srv = raw_servers(drip(b"", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0.3))
    assert_times_out(make_fetcher(fetch_timeout=1.5), f"http://127.0.0.1:{srv.port}/", 1.5)


def test_deadline_spans_redirects(server, raw_servers, make_fetcher):
    srv = raw_servers(drip(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", b"abc", 0.4))
    server.expect_request("/hop").respond_with_data("", 302, {"Location": f"http://127.0.0.1:{srv.port}/"})
    fetcher = make_fetcher(fetch_timeout=1.0)
    assert_times_out(fetcher, f"http://127.0.0.1:{server.port}/hop", 1.0)


# --- TLS: the pinned IP is dialled, the name is verified ------------------------
@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make test certificates")
    d = tmp_path_factory.mktemp("tls")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def run(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    run(
        "req",
        "-x509",
        *ec,
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=nsfw test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    )
    run("req", *ec, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=images.test")
    (d / "leaf.ext").write_text(
        "subjectAltName=DNS:images.test\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
    )
    run(
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "leaf.pem",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
    )
    return d


@pytest.fixture(scope="module")
def tls_context(tls_files):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tls_files / "leaf.pem", tls_files / "leaf.key")
    return ctx


@pytest.fixture(scope="module")
def tls_server(tls_context):
    srv = HTTPServer(host="127.0.0.1", port=0, ssl_context=tls_context, threaded=True)
    srv.start()
    yield srv
    srv.clear()
    srv.stop()


def test_https_connects_to_the_pinned_ip_and_verifies_the_name(tls_server, tls_files, make_fetcher):
    seen = {}

    def handler(request):
        seen["host"] = request.headers["Host"]
        return Response(b"secure")

    tls_server.expect_request("/img").respond_with_handler(handler)
    fetcher = make_fetcher(resolver=resolve_to("127.0.0.1"), ca_bundle=str(tls_files / "ca.pem"))
    assert fetch_bytes(fetcher, f"https://images.test:{tls_server.port}/img") == b"secure"
    assert seen["host"] == f"images.test:{tls_server.port}"
    assert Guard.connects == ["127.0.0.1"]


@pytest.mark.parametrize("host", ["other.test", "127.0.0.1"])
def test_https_refuses_a_certificate_for_another_name(tls_server, tls_files, make_fetcher, host):
    fetcher = make_fetcher(resolver=resolve_to("127.0.0.1"), ca_bundle=str(tls_files / "ca.pem"))
    with pytest.raises(FetchFailed, match="TLS"):
        fetch_bytes(fetcher, f"https://{host}:{tls_server.port}/img")


def test_https_refuses_an_unknown_ca(tls_server, make_fetcher):
    fetcher = make_fetcher(resolver=resolve_to("127.0.0.1"))  # default CAs do not know the test CA
    with pytest.raises(FetchFailed, match="TLS"):
        fetch_bytes(fetcher, f"https://images.test:{tls_server.port}/img")


def test_https_slow_headers_hit_the_deadline(raw_servers, tls_context, tls_files, make_fetcher):
    slow = drip(b"", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0.3)

    def handler(conn, stop):
        with tls_context.wrap_socket(conn, server_side=True) as tls:
            slow(tls, stop)

    srv = raw_servers(handler)
    fetcher = make_fetcher(resolver=resolve_to("127.0.0.1"), ca_bundle=str(tls_files / "ca.pem"), fetch_timeout=1.5)
    assert_times_out(fetcher, f"https://images.test:{srv.port}/", 1.5)


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


# --- URL canonical form ---------------------------------------------------------
@pytest.mark.parametrize(
    "url, canonical",
    [
        ("http://2130706433/", "http://127.0.0.1/"),
        ("http://0x7f000001/a?b=c#frag", "http://127.0.0.1/a?b=c"),
        ("http://127.1:8080", "http://127.0.0.1:8080/"),
        ("http://0177.0.0.1/", "http://127.0.0.1/"),
        ("http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/"),
        ("HTTPS://Example.COM.:443/x", "https://example.com/x"),
        ("https://example.com:/x", "https://example.com/x"),
        ("http://b\u00fccher.example/p", "http://xn--bcher-kva.example/p"),
        ("  http://example.com/  ", "http://example.com/"),
    ],
)
def test_url_canonical_form(url, canonical):
    assert urls.parse(url, PORTS).url == canonical


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


def test_a_deadline_earlier_than_the_fetch_timeout_wins(raw_servers, make_fetcher):
    srv = raw_servers(drip(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", b"x" * 100, 0.2))
    fetcher = make_fetcher(resolver=resolve_to("127.0.0.1"), fetch_timeout=10)
    started = time.monotonic()
    with pytest.raises(FetchTimeout), fetcher.fetch(f"http://127.0.0.1:{srv.port}/", deadline=started + 1):
        pass
    assert time.monotonic() - started < 2


def test_unknown_content_encodings_are_refused(server, fetcher):
    server.expect_request("/br").respond_with_data(b"\x0b\x02\x80hello\x03", headers={"Content-Encoding": "br"})
    with pytest.raises(FetchFailed, match="Content-Encoding"):
        fetch_bytes(fetcher, f"http://127.0.0.1:{server.port}/br")
