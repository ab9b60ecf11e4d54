"""Where the fetcher may connect: spellings of non-public addresses, DNS answers, redirects to them.

Against the allowed server and the canary of conftest.py, with the connection guard armed.
"""

import socket
import threading
import time

import pytest
from fetch_helpers import PORTS, Guard, fetch_bytes, resolve_to

from nsfw.errors import BlockedAddress, FetchFailed, FetchTimeout, InvalidURL
from nsfw.fetch import urls
from nsfw.settings import Settings

pytestmark = pytest.mark.usefixtures("_checks")


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


def test_ipv4_mapped_literal_of_allowed_address(server, fetcher):
    server.expect_request("/m").respond_with_data(b"mapped")
    assert fetch_bytes(fetcher, f"http://[::ffff:127.0.0.1]:{server.port}/m") == b"mapped"
    assert Guard.connects == ["127.0.0.1"]


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
