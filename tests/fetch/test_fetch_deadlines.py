"""How long and how far the fetcher goes: redirect chains, deadlines, and TLS to the pinned address.

Against the allowed server of conftest.py and raw loopback servers, with the connection guard armed.
"""

import shutil
import ssl
import subprocess
import time

import pytest
from fetch_helpers import Guard, assert_times_out, drip, fetch_bytes, resolve_to
from pytest_httpserver import HTTPServer
from werkzeug import Response

from nsfw.errors import FetchFailed, FetchTimeout

pytestmark = pytest.mark.usefixtures("_checks")


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


def test_a_deadline_earlier_than_the_fetch_timeout_wins(raw_servers, make_fetcher):
    srv = raw_servers(drip(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", b"x" * 100, 0.2))
    fetcher = make_fetcher(resolver=resolve_to("127.0.0.1"), fetch_timeout=10)
    started = time.monotonic()
    with pytest.raises(FetchTimeout), fetcher.fetch(f"http://127.0.0.1:{srv.port}/", deadline=started + 1):
        pass
    assert time.monotonic() - started < 2


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
