"""The Flask guard in a real Flask app, against the real service."""

from __future__ import annotations

import io

import client_helpers
import pytest
from client_helpers import ADULT, DOWN_CASES, GUARD_CASES, SAFE, nowhere
from flask import Flask, g, request

from nsfw_client import Client, Guard
from nsfw_client.flask import UploadRefused, guard_upload

pytestmark = pytest.mark.slow
service = client_helpers.service


def make_app(guard: Guard) -> Flask:
    app = Flask(__name__)

    @app.post("/upload")
    @guard_upload("image", guard)
    def upload():
        data = request.files["image"].read()  # the guard read it: it must be rewound
        return {"bytes": len(data), "flagged": g.nsfw_flagged, "code": g.nsfw["image"][0].code}

    @app.errorhandler(UploadRefused)
    def refused(error: UploadRefused):
        return {"refused": error.decision.code, "message": error.description}, error.code

    return app


def post(app: Flask, data: bytes):
    return app.test_client().post("/upload", data={"image": (io.BytesIO(data), "upload.png")})


@pytest.mark.parametrize(("data", "unknown", "allowed", "flagged", "code"), GUARD_CASES)
def test_flask_guard(service: str, data: bytes, unknown, allowed: bool, flagged: bool, code: str) -> None:
    with Client(service) as client:
        response = post(make_app(Guard(client, unknown=unknown)), data)
    if allowed:
        assert response.status_code == 200, response.json
        assert response.json == {"bytes": len(data), "flagged": flagged, "code": code}
    else:
        assert response.status_code == 422
        assert response.json["refused"] == code and response.json["message"].startswith("image: ")


def test_flask_refusal_without_a_handler_is_flasks_own_422(service: str) -> None:
    with Client(service) as client:
        app = Flask(__name__)

        @app.post("/upload")
        @guard_upload("image", Guard(client))
        def upload():
            return "stored"

        response = post(app, ADULT.read_bytes())
    assert response.status_code == 422 and b"adult content" in response.data


@pytest.mark.parametrize(("fail", "allowed", "flagged"), DOWN_CASES)
def test_flask_guard_when_the_service_is_down(fail, allowed: bool, flagged: bool) -> None:
    with Client(nowhere(), retries=0) as client:
        response = post(make_app(Guard(client, fail=fail)), SAFE.read_bytes())
    if allowed:
        assert response.json == {"bytes": SAFE.stat().st_size, "flagged": flagged, "code": "nsfw_unchecked"}
    else:
        assert response.status_code == 422 and response.json["refused"] == "nsfw_unchecked"
