"""OpenAPI 3.1 at GET /openapi.json and Swagger UI at GET /docs, built from the app itself.

(That first line is the blueprint's tag in the OpenAPI document.) The document is built by
``spec.py``; this module serves it and Swagger UI. Swagger UI's files come from the pinned
``flask-swagger-ui`` wheel and are served by this app, so the page works offline and nothing
is fetched at run time.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, send_from_directory, url_for
from markupsafe import escape
from werkzeug.exceptions import NotFound

from nsfw.web.headers import html_policy
from nsfw.web.openapi.spec import TITLE, doc, json_response, spec

bp = Blueprint("docs", __name__)

SWAGGER_UI = Path(str(getattr(importlib.util.find_spec("flask_swagger_ui"), "origin", ""))).parent / "dist"
SWAGGER_UI_VERSION = (SWAGGER_UI / "VERSION").read_text().strip()
ASSETS = {  # the files /docs uses, with the type each is served as
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "favicon-32x32.png": "image/png",
}
PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="swagger-ui-version" content="{version}">
<title>{title} API</title>
<link rel="stylesheet" href="{css}">
<link rel="icon" type="image/png" href="{icon}">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{bundle}"></script>
<script>{script}</script>
</body>
</html>
"""


@bp.get("/openapi.json")
@doc("This OpenAPI 3.1 document", responses={200: json_response("the document", {"type": "object"})})
def openapi_json():
    """Generated from the routes and error classes of this very app."""
    return jsonify(spec(current_app))


@bp.get("/docs")
@doc("Swagger UI for this document", responses={200: {"description": "a page", "content": {"text/html": {}}}})
def swagger_ui():
    """The one HTML page; its scripts and styles are served by /docs/{asset}, nothing from elsewhere."""

    def asset(name):
        return escape(url_for("docs.swagger_asset", asset=name))

    spec_url = json.dumps(url_for("docs.openapi_json")).replace("<", "\\u003c")
    script = (
        f'window.ui = SwaggerUIBundle({{url: {spec_url}, dom_id: "#swagger-ui", '
        "deepLinking: true, validatorUrl: null});"
    )
    page = PAGE.format(
        version=escape(SWAGGER_UI_VERSION),
        title=TITLE,
        css=asset("swagger-ui.css"),
        icon=asset("favicon-32x32.png"),
        bundle=asset("swagger-ui-bundle.js"),
        script=script,
    )
    response = Response(page, mimetype="text/html")
    # The inline script is allowed by its hash, and nothing else inline is.
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    response.headers["Content-Security-Policy"] = html_policy((digest,))
    return response


@bp.get("/docs/<asset>")
@doc(
    "A Swagger UI file",
    parameters=[{"in": "path", "name": "asset", "required": True, "schema": {"enum": sorted(ASSETS)}}],
    responses={200: {"description": "the file", "content": {kind: {} for kind in sorted(set(ASSETS.values()))}}},
    errors=(NotFound,),
)
def swagger_asset(asset: str):
    """From the pinned flask-swagger-ui package."""
    if asset not in ASSETS:
        raise NotFound()
    return send_from_directory(SWAGGER_UI, asset, mimetype=ASSETS[asset])
