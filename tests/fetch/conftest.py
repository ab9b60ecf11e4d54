"""Fixtures of the fetcher tests: an allowed server, a canary behind it, a fetcher that may reach only the first.

An ALLOWED server listens on 127.0.0.1 (the only exempted address) and a CANARY on 127.0.0.2
at the same port, so that any way of reaching a non-public address, spelled however, would
land on the canary. ``_checks`` (used by each module that talks to them) arms the connection
guard of fetch_helpers.py and checks the canary and the spool directory after every test.
"""

import ipaddress

import pytest
from fetch_helpers import PORTS, Guard, RawServer, respond
from pytest_httpserver import HTTPServer

from nsfw.fetch.fetcher import Fetcher
from nsfw.settings import Settings


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


@pytest.fixture
def _checks(server, canary, spool_dir):
    server.clear()
    hits_before = canary.hits
    Guard.connects = []
    Guard.active = True
    yield
    Guard.active = False
    assert canary.hits == hits_before, "the canary on 127.0.0.2 was reached"
    assert list(spool_dir.iterdir()) == [], "a temporary file was left behind"
