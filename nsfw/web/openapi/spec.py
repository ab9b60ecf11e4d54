"""OpenAPI 3.1 at GET /openapi.json and Swagger UI at GET /docs, built from the app itself.

The document must not drift from the code, so nothing in it is written twice:

- each view carries its own operation (``@doc`` right above the view);
- paths, methods and path parameters come from ``app.url_map``, and a rule whose
  view has no ``@doc`` makes building fail (:class:`UndocumentedRoute`);
- error responses come from the error classes a view names: a ``ServiceError``
  gives its ``status`` and ``code``, a Werkzeug error is rendered by the app's
  own handlers to learn its; every operation may also answer ``internal_error``.

The routes that serve it, and Swagger UI, are in ``views.py``.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import re
import sys
from collections import defaultdict

from apispec import APISpec
from flask import Flask
from werkzeug.exceptions import HTTPException

from nsfw import protect
from nsfw.errors import RateLimited, RateLimitUnavailable, ServiceError, Unauthorized
from nsfw.web import current
from nsfw.web.openapi.error_groups import error_body
from nsfw.web.openapi.schemas import SCHEMAS

TITLE = "nsfw-service"
VERSION = "1.0.0"  # the project's version (pyproject.toml); a test keeps them equal
IGNORED_ENDPOINTS = {"static"}  # Flask's own static route; this app has no static folder
COMMON_ERRORS = (ServiceError,)  # anything unexpected: 500 internal_error
# Routes that are not open (nsfw.protect) may ask for an API key and count against a rate limit,
# when the operator configures them; without a key configured, anonymous calls are allowed.
PROTECTED_ERRORS = (Unauthorized, RateLimited, RateLimitUnavailable)
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "an API key from `nsfw keygen`"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "the same key, another header"},
    "reviewer": {"type": "http", "scheme": "bearer", "description": "a reviewer token from `nsfw reviewer`"},
    "reviewerSession": {  # the reviewer pages (nsfw/web/review_page.py)
        "type": "apiKey",
        "in": "cookie",
        "name": "nsfw_review",
        "description": "the session cookie POST /review/sign-in sets for a reviewer token",
    },
}
SECURITY: list[dict[str, list[str]]] = [
    {},
    {"bearer": []},
    {"apiKey": []},
]  # {}: anonymous, when no NSFW_API_KEYS_FILE is set
RATE_LIMIT_HEADERS = {
    name: {"description": description, "schema": {"type": "integer", "minimum": 0}}
    for name, description in (
        ("Retry-After", "seconds until the request may succeed"),
        ("RateLimit-Limit", "images allowed per window (NSFW_RATE_LIMIT)"),
        ("RateLimit-Remaining", "images left in this window"),
        ("RateLimit-Reset", "seconds until the window resets"),
    )
}


class UndocumentedRoute(RuntimeError):
    """A URL rule whose view has no @doc: the document would silently miss it."""


@dataclasses.dataclass(frozen=True)
class Operation:
    summary: str
    description: str | None
    parameters: tuple
    body: dict | None
    responses: dict
    errors: tuple
    security: list | None = None  # its own scheme (the review API's reviewer tokens), for an open route


def doc(summary: str, *, responses: dict, parameters=(), body=None, errors=(), description=None, security=None):
    """Attach an OpenAPI operation to a view; the description defaults to its docstring."""

    def attach(view):
        view.openapi = Operation(
            summary, description or inspect.getdoc(view), tuple(parameters), body, responses, tuple(errors), security
        )
        return view

    return attach


# --- small builders the views use -----------------------------------------------
def ref(name: str, kind: str = "schemas") -> dict:
    return {"$ref": f"#/components/{kind}/{name}"}


def json_response(description: str, schema: dict, headers: dict | None = None) -> dict:
    response = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


def query(name: str, schema: dict, description: str) -> dict:
    return {"in": "query", "name": name, "schema": schema, "description": description}


MODEL_PARAM = "model"  # a component parameter: its enum is the app's served models


IMAGE_FORMATS = (
    "A JPEG, PNG (or APNG), GIF, WebP, HEIF (HEIC) or AVIF image, recognised by its bytes whatever its "
    "Content-Type: image/jpeg, image/png, image/gif, image/webp, image/heic, image/heif, image/avif or any image/*."
)


def image_body(required: bool, multipart: dict | None = None, json_schema: dict | None = None) -> dict:
    """An image as a raw ``image/*`` (or octet-stream) body or multipart ``image`` fields (or JSON);
    a video as a raw ``video/*`` body or a multipart ``video`` (or ``image``) field."""
    binary = {"schema": {"type": "string", "format": "binary", "description": IMAGE_FORMATS}}
    form = multipart or {
        "type": "object",
        "properties": {
            "image": {"type": "string", "format": "binary"},
            "video": {"type": "string", "format": "binary"},
        },
    }
    content = {"application/json": {"schema": json_schema}} if json_schema else {}
    encoding = {"image": {"contentType": "image/*, video/*"}, "video": {"contentType": "video/*"}}
    content |= {
        "multipart/form-data": {"schema": form, "encoding": encoding},
        "image/*": binary,
        "video/*": binary,
        "application/octet-stream": binary,
    }
    return {"required": required, "content": content}


# --- the document ---------------------------------------------------------------
def spec(app: Flask) -> dict:
    """The document for ``app``, built once and kept."""
    document = app.extensions.get("openapi")
    if document is None:
        document = app.extensions["openapi"] = build(app)
    return document


def build(app: Flask) -> dict:
    api = APISpec(
        title=TITLE,
        version=VERSION,
        openapi_version="3.1.0",
        info={"description": (sys.modules["nsfw"].__doc__ or "").strip()},
    )
    for name, schema in copy.deepcopy(SCHEMAS).items():
        api.components.schema(name, schema)
    for name, scheme in SECURITY_SCHEMES.items():
        api.components.security_scheme(name, dict(scheme))
    models = list(current.detector(app).models.names)
    api.components.schema("ModelName", {"type": "string", "enum": models, "description": "a served model"})
    api.components.parameter(
        "model", "query", {"schema": ref("ModelName"), "description": f"the model to use (default {models[0]})"}
    )
    tags: dict[str, str] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint in IGNORED_ENDPOINTS:
            continue
        operation = getattr(app.view_functions[rule.endpoint], "openapi", None)
        if operation is None:
            raise UndocumentedRoute(f"{rule.rule} ({rule.endpoint}) has no @doc")
        tag = rule.endpoint.rpartition(".")[0] or "app"
        tags.setdefault(tag, _tag_description(app, tag))
        methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        api.path(
            path=_openapi_path(rule.rule),
            operations={
                method.lower(): _operation(app, rule, operation, tag, method, len(methods) > 1) for method in methods
            },
        )
    for name, description in sorted(tags.items()):
        api.tag({"name": name, "description": description})
    return api.to_dict()


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def _operation(app: Flask, rule, op: Operation, tag: str, method: str, several: bool) -> dict:
    op = copy.deepcopy(op)  # apispec edits what it is given; the view's @doc stays as written
    documented = {p["name"] for p in op.parameters if isinstance(p, dict) and p["in"] == "path"}
    if missing := set(rule.arguments) - documented:
        raise UndocumentedRoute(f"{rule.rule}: path parameters {sorted(missing)} have no @doc")
    responses = {str(status): response for status, response in op.responses.items()}
    protected = not protect.open_route(app, rule.endpoint, rule.rule)
    errors = (*op.errors, *COMMON_ERRORS, *(PROTECTED_ERRORS if protected else ()))
    for status, response in _error_responses(app, errors).items():
        if status in responses:
            raise ValueError(f"{rule.rule}: {status} is both a documented answer and an error")
        responses[status] = response
    if protected:
        responses[str(RateLimited.status)]["headers"] = copy.deepcopy(RATE_LIMIT_HEADERS)
    operation = {
        "operationId": f"{rule.endpoint}.{method.lower()}" if several else rule.endpoint,
        "tags": [tag],
        "summary": op.summary,
        "responses": responses,
    }
    if op.description:
        operation["description"] = op.description
    if op.parameters:
        operation["parameters"] = list(op.parameters)
    if op.body:
        operation["requestBody"] = op.body
    if protected:
        operation["security"] = copy.deepcopy(SECURITY)
    elif op.security:
        operation["security"] = op.security
    return operation


def _error_responses(app: Flask, classes) -> dict:
    """One response per status, listing every code (and its meaning) a view may answer."""
    by_status: dict[int, dict[str, str]] = defaultdict(dict)
    for cls in classes:
        status, code, message = _error_of(app, cls)
        by_status[status].setdefault(code, message)
    return {
        str(status): {
            "description": "; ".join(f"`{code}`: {message}" for code, message in sorted(found.items())),
            "content": {"application/json": {"schema": error_body(sorted(found))}},
        }
        for status, found in sorted(by_status.items())
    }


def _error_of(app: Flask, cls) -> tuple[int, str, str]:
    if issubclass(cls, ServiceError):
        return cls.status, cls.code, cls.default_message
    if issubclass(cls, HTTPException):
        with app.test_request_context():
            response = app.make_response(app.handle_http_exception(cls()))
        error = response.get_json()["error"]
        return response.status_code, error["code"], error["message"]
    raise TypeError(f"{cls!r} is not an error this app answers with")


def _tag_description(app: Flask, tag: str) -> str:
    blueprint = app.blueprints.get(tag)
    module = sys.modules.get(blueprint.import_name) if blueprint else None
    return ((module and module.__doc__) or "").strip().split("\n\n")[0].replace("\n", " ")
