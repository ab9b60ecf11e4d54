"""GET /openapi.json and /docs: the document covers every route and error, and the app keeps to it.

schemathesis generates requests from the document, sends them to the app in
process (WSGI) and checks each answer: no 5xx, a documented status, a
documented content type, a body and headers that match their schemas. No URL it
generates can reach anything: the app allows no port at all, and any socket
connect or DNS lookup during the run fails the test.
"""

from __future__ import annotations

import io
import re
import socket
import tomllib

import pillow_heif
import pytest
import schemathesis
from helpers import IMAGES, TESTS
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from PIL import Image

import nsfw
from nsfw import create_app, errors
from nsfw.settings import Settings
from nsfw.web import current
from nsfw.web.openapi import spec as openapi


def _image(fmt: str, size=(24, 16), mode="RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (90, 140, 200)).save(out, fmt)
    return out.getvalue()


def _heic() -> bytes:
    out = io.BytesIO()
    pillow_heif.from_pillow(Image.new("RGB", (24, 16), (90, 140, 200))).save(out, quality=50)
    return out.getvalue()


PNG = _image("PNG")
# What schemathesis sends as an image: real ones (so successes are checked too),
# a truncated one, a non-image and an empty body.
IMAGE_BODIES = [
    PNG,
    _image("JPEG"),
    _image("GIF", mode="P"),
    _image("WEBP"),
    _image("AVIF"),
    _heic(),
    (IMAGES / "drawing_flat.png").read_bytes(),
    PNG[:40],
    b"not an image",
    b"",
]
schemathesis.openapi.media_type("image/*", st.sampled_from(IMAGE_BODIES))
# ... and as a video: a real one when PyAV is installed (the `video` extra), a truncated one, a non-video.
try:
    from hostile_videos import sample as _video

    VIDEO = _video(0.5, width=32, height=32)
except ImportError:  # no PyAV: the service answers video_unsupported, which the document lists too
    VIDEO = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
VIDEO_BODIES = [VIDEO, VIDEO[: len(VIDEO) // 2], b"not a video", b""]
schemathesis.openapi.media_type("video/*", st.sampled_from(VIDEO_BODIES))

MAX_EXAMPLES = 30  # per operation and phase: about 400 requests, a few seconds
CONFIG = {
    "seed": 1,
    "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
    "phases": {"stateful": {"enabled": False}},
}
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "unsupported_method",
    "allow_header_conformance",
]  # other methods: 405 with an Allow header


# No port is allowed, so every URL is refused before any name lookup or connection.
# (Built at import: schemathesis.pytest.from_fixture does not work under pytest 9.)
APP = create_app(Settings().replace(fetch_allow_ports=frozenset(), fetch_timeout=0.5, max_batch=4))
schema = schemathesis.openapi.from_wsgi("/openapi.json", APP, config=schemathesis.Config.from_dict(CONFIG))


@pytest.fixture(scope="module")
def offline_app():
    """The app above with its model loaded, so /ready answers 200."""
    current.detector(APP).load()
    return APP


@pytest.fixture
def no_network(monkeypatch):
    """Fail loudly on any DNS lookup or connection attempt."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("tests/web/test_openapi.py: no network during the schemathesis run")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    yield attempts
    assert attempts == [], "the run tried to reach the network"


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_app_keeps_to_its_document(case, offline_app, no_network):
    checks = [getattr(schemathesis.checks, name) for name in CHECKS]
    case.call_and_validate(checks=checks)


# --- the document itself ------------------------------------------------------------
@pytest.fixture(scope="module")
def document(offline_app):
    return offline_app.test_client().get("/openapi.json").get_json()


def test_document_is_valid_openapi_3_1(document):
    assert document["openapi"] == "3.1.0"
    schemathesis.openapi.from_dict(document).validate()


def test_every_route_is_documented(offline_app, document):
    routes = {
        (re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule), method.lower())
        for rule in offline_app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert routes == documented
    expected = {"/predict", "/health", "/ready", "/v1/classify", "/v1/models", "/compute", "/openapi.json", "/docs"}
    assert expected <= {path for path, _ in routes}


def test_a_route_without_doc_fails_the_build():
    app = create_app(Settings())
    app.add_url_rule("/undocumented", "undocumented", lambda: "")
    with pytest.raises(openapi.UndocumentedRoute, match="/undocumented"):
        openapi.build(app)


def _all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_subclasses(sub)


def _error_codes(schema: dict) -> list[str]:
    """The code enum of an error body or error object schema."""
    error = schema.get("properties", {}).get("error", schema)
    return error.get("properties", {}).get("code", {}).get("enum", [])


def test_every_error_code_is_documented(document):
    documented = {
        (int(status), code)
        for ops in document["paths"].values()
        for op in ops.values()
        for status, response in op["responses"].items()
        for code in _error_codes(response.get("content", {}).get("application/json", {}).get("schema", {}))
    }
    item_codes = _error_codes(document["components"]["schemas"]["ItemError"])
    ours = [cls for cls in _all_subclasses(errors.ServiceError) if cls.__module__.startswith("nsfw.")]
    missing = [
        cls.__name__
        for cls in (errors.ServiceError, *ours)
        if (cls.status, cls.code) not in documented and cls.code not in item_codes
    ]
    assert missing == []
    assert (404, "not_found") in documented and (413, "too_large") in documented


def test_error_responses_come_from_the_error_classes(document):
    predict = document["paths"]["/predict"]["post"]["responses"]
    codes = _error_codes(predict["403"]["content"]["application/json"]["schema"])
    assert codes == [errors.BlockedAddress.code, errors.ListedContent.code]  # a reject-listed image: 403 too
    assert errors.BlockedAddress.default_message in predict["403"]["description"]
    assert document["paths"]["/ready"]["get"]["responses"]["503"]["description"].startswith("`not_ready`")


def test_version_is_the_projects():
    project = tomllib.loads((TESTS.parent / "pyproject.toml").read_text())["project"]
    assert project["version"] == openapi.VERSION
    assert nsfw.__doc__


# --- Swagger UI ---------------------------------------------------------------------
def test_docs_page_is_html_and_self_contained(offline_app):
    client = offline_app.test_client()
    response = client.get("/docs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "://" not in page, "the page must not load anything from elsewhere"
    version = re.search(r'name="swagger-ui-version" content="v(\d+)\.', page)
    assert version and int(version.group(1)) >= 5, "OpenAPI 3.1 needs Swagger UI 5 or later"
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert len(assets) == 3
    for url in assets:
        asset = client.get(url)
        assert asset.status_code == 200 and len(asset.data) > 100, url
    assert '"/openapi.json"' in page and "validatorUrl: null" in page


def test_unknown_docs_asset_is_a_json_404(offline_app):
    response = offline_app.test_client().get("/docs/index.html")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
