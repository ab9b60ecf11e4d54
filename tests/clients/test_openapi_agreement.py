"""What the clients know (error codes, routes, result fields, version) agrees with the served /openapi.json.

The JS package's api.json is its declaration of the same; clients/js/test/openapi.test.js checks its
classes and types against it, and this file checks it against the service and the Python client.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import client_helpers
import httpx
import pytest

import nsfw_client
from nsfw_client import _core, errors, result

ROOT = Path(__file__).resolve().parents[2]
API_JSON = json.loads((ROOT / "clients" / "js" / "api.json").read_text())
# Fields announced for Classification by work in progress: optional in both clients, and allowed to
# be absent from the document until the service serves them (none now: pdq and match are served).
PENDING_FIELDS: tuple[str, ...] = ()

pytestmark = pytest.mark.slow
service = client_helpers.service


@pytest.fixture(scope="module")
def spec(service: str) -> dict[str, Any]:
    return httpx.get(f"{service}/openapi.json").raise_for_status().json()


def served_codes(node: Any) -> set[str]:
    """Every error code the document names, in any error object's ``code`` enum."""
    found: set[str] = set()
    if isinstance(node, dict):
        properties = node.get("properties") or {}
        if "message" in properties and isinstance(properties.get("code", {}).get("enum"), list):
            found.update(properties["code"]["enum"])
        for value in node.values():
            found |= served_codes(value)
    elif isinstance(node, list):
        for value in node:
            found |= served_codes(value)
    return found


def test_every_served_error_code_has_its_class_in_both_clients(spec: dict) -> None:
    served = sorted(served_codes(spec))
    assert list(errors.CODES) == served
    assert API_JSON["codes"] == served
    for code in served:
        cls = errors.BY_CODE[code]
        assert cls.code == code and issubclass(cls, errors.APIError)
        assert getattr(errors, cls.__name__) is cls


def error_objects(node: Any) -> list[dict[str, Any]]:
    """Every error object schema in the document (the properties beside ``code`` and ``message``)."""
    found = []
    if isinstance(node, dict):
        properties = node.get("properties") or {}
        if "code" in properties and "message" in properties:
            found.append(properties)
        for value in node.values():
            found += error_objects(value)
    elif isinstance(node, list):
        for value in node:
            found += error_objects(value)
    return found


def test_the_error_fields_are_the_served_ones(spec: dict) -> None:
    objects = error_objects(spec)
    assert objects and all(set(o) == set(_core.ERROR_FIELDS) for o in objects)
    assert list(_core.ERROR_FIELDS) == API_JSON["errorFields"]


def test_the_routes_the_clients_call_are_served(spec: dict) -> None:
    assert list(_core.ROUTES) == API_JSON["routes"]
    for route in _core.ROUTES:
        method, path = route.split(" ")
        assert method.lower() in spec["paths"][path], route


def test_result_fields_are_the_served_classification(spec: dict) -> None:
    schema = spec["components"]["schemas"]["Classification"]
    served = set(schema["properties"])
    pending = set(PENDING_FIELDS) - served
    assert set(result.FIELDS) - pending == served  # a new field fails here until both clients know it
    assert set(result.REQUIRED) == set(schema["required"])
    assert list(result.FIELDS) == API_JSON["resultFields"] and list(PENDING_FIELDS) == API_JSON["pendingFields"]
    verdicts = schema["properties"]["verdict"]["enum"]
    assert sorted(result.VERDICTS) == sorted(verdicts)


def test_versions_follow_the_api(spec: dict) -> None:
    version = spec["info"]["version"]
    pyproject = tomllib.loads((ROOT / "clients" / "python" / "pyproject.toml").read_text())
    package = json.loads((ROOT / "clients" / "js" / "package.json").read_text())
    assert nsfw_client.__version__ == pyproject["project"]["version"] == version
    assert package["version"] == API_JSON["version"] == version


def test_the_python_client_depends_on_httpx_only() -> None:
    pyproject = tomllib.loads((ROOT / "clients" / "python" / "pyproject.toml").read_text())
    assert [d.split(">")[0] for d in pyproject["project"]["dependencies"]] == ["httpx"]
    assert (ROOT / "clients" / "python" / "nsfw_client" / "py.typed").exists()
    assert set(pyproject["project"]["optional-dependencies"]) == {"flask", "django", "drf", "fastapi"}
