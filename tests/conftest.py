"""Shared fixtures: a real local image server, an app configured to reach it, real model files."""

from __future__ import annotations

import ipaddress
import json

import pytest
from helpers import GOLDEN

from nsfw import create_app
from nsfw.settings import Settings
from nsfw.web import current


@pytest.fixture(scope="session")
def httpserver_listen_address():
    return ("127.0.0.1", 0)


@pytest.fixture(scope="session")
def golden():
    """nsfwjs's own outputs for the committed test images (see tests/golden/record.py)."""
    return json.loads(GOLDEN.read_text())


@pytest.fixture
def spool_dir(tmp_path):
    """The only place downloads may be written; every test leaves it empty."""
    path = tmp_path / "spool"
    path.mkdir()
    yield path
    assert sorted(p.name for p in path.iterdir()) == [], "a temporary file was left behind"


@pytest.fixture
def settings(httpserver, spool_dir):
    """Reach the local image server (and only it); spill every download to disk."""
    return Settings().replace(
        fetch_allow_nets=(ipaddress.ip_network("127.0.0.1/32"),),
        fetch_allow_ports=frozenset({80, 443, httpserver.port}),
        webhook_allow_nets=(ipaddress.ip_network("127.0.0.1/32"),),
        webhook_allow_ports=frozenset({80, 443, httpserver.port}),
        fetch_timeout=3.0,
        tmp_dir=str(spool_dir),
        spool_bytes=1,
    )


@pytest.fixture
def app(settings):
    app = create_app(settings)
    yield app
    current.detector(app).close()  # its decoder processes too


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_app(settings):
    """make_app(**changes): a test client of an app with these settings changed; all closed at the end."""
    apps = []

    def make(**changes):
        app = create_app(settings.replace(**changes))
        apps.append(app)
        return app.test_client()

    yield make
    for app in apps:
        current.detector(app).close()


@pytest.fixture(scope="module")
def browser():
    """A headless Debian chromium for the page tests (tests/browser.py), one per test module."""
    from browser import CHROMIUM, MISSING, launch

    if not CHROMIUM.exists():
        pytest.skip(MISSING)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()
