"""With keys and limits on, the app still keeps to its OpenAPI document: 401 and 429 are declared."""

from __future__ import annotations

import shutil
import socket
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from nsfw import create_app
from nsfw.protect import keys
from nsfw.settings import Settings
from nsfw.web import current

MAX_EXAMPLES = 10
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
]
# Raw video bodies (the document offers video/* since issue 14): every request here is refused
# before its body matters, so any bytes do.
schemathesis.openapi.media_type("video/*", st.binary(max_size=64))
KEYS = Path(tempfile.mkdtemp(prefix="nsfw-keys-")) / "keys.txt"
KEYS.write_text(keys.line_for("someone", keys.new_key()) + "\n")
# Every generated request lacks the key (401), and /ready and the docs stay open; a second app
# without keys but with a tiny limit answers 429 after its first few requests.
KEYED = create_app(Settings().replace(fetch_allow_ports=frozenset(), max_batch=4, api_keys_file=str(KEYS)))
LIMITED = create_app(Settings().replace(fetch_allow_ports=frozenset(), max_batch=4, rate_limit="3/hour"))
keyed_schema = schemathesis.openapi.from_wsgi("/openapi.json", KEYED, config=schemathesis.Config.from_dict(CONFIG))
limited_schema = schemathesis.openapi.from_wsgi("/openapi.json", LIMITED, config=schemathesis.Config.from_dict(CONFIG))


@pytest.fixture(scope="module", autouse=True)
def loaded():
    """Models loaded, so /ready answers 200; decoders stopped and the keys file removed at the end
    (made at import, for the apps the schemas are built from)."""
    for app in (KEYED, LIMITED):
        current.detector(app).load()
    yield
    for app in (KEYED, LIMITED):
        current.detector(app).close()
    shutil.rmtree(KEYS.parent, ignore_errors=True)


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("no network during the schemathesis run")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_the_document_declares_the_keys_on_protected_operations_only():
    document = KEYED.test_client().get("/openapi.json").get_json()
    assert set(document["components"]["securitySchemes"]) == {"bearer", "apiKey", "reviewer", "reviewerSession"}
    for path, ops in document["paths"].items():
        for op in ops.values():
            if path.startswith(("/v1/review/", "/v1/lists")):  # reviewer tokens, never API keys nor rate limits
                assert op["security"] == [{"reviewer": []}], path
                assert "401" in op["responses"] and "429" not in op["responses"], path
                continue
            if path == "/review" or path.startswith("/review/"):  # the reviewers' pages: their session cookie
                assert not [s for s in op.get("security", []) if {"bearer", "apiKey"} & set(s)], path
                assert "429" not in op["responses"], path
                continue
            protected = path in ("/predict", "/compute", "/v1/classify", "/v1/hash", "/v1/models")
            assert ("security" in op) == protected, path
            assert ("401" in op["responses"] and "429" in op["responses"]) == protected, path
            if protected:
                assert {"Retry-After", "RateLimit-Remaining"} <= set(op["responses"]["429"]["headers"])


@keyed_schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_a_keyed_app_keeps_to_its_document(case, no_network):
    case.call_and_validate(checks=[getattr(schemathesis.checks, name) for name in CHECKS])


@limited_schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_a_limited_app_keeps_to_its_document(case, no_network):
    case.call_and_validate(checks=[getattr(schemathesis.checks, name) for name in CHECKS])
