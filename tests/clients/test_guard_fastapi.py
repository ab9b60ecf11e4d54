"""The FastAPI guard in a real FastAPI app (its TestClient), against the real service."""

# No `from __future__ import annotations`: FastAPI reads the view's Annotated[...] at run time, and the
# guard it names is a local of make_app.

import contextlib
from collections.abc import AsyncIterator
from typing import Annotated

import client_helpers
import pytest
from client_helpers import ADULT, DOWN_CASES, GUARD_CASES, SAFE, nowhere
from fastapi import Depends, FastAPI, Request, UploadFile
from fastapi.testclient import TestClient

from nsfw_client import AsyncClient, Guard
from nsfw_client.fastapi import guard_upload

pytestmark = pytest.mark.slow
service = client_helpers.service


def make_app(base_url: str, **policies) -> FastAPI:
    client = AsyncClient(base_url, retries=0)
    guard = Guard(client, **policies)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await client.close()  # the client's connections belong to the app's event loop

    app = FastAPI(lifespan=lifespan)

    @app.post("/upload")
    async def upload(request: Request, image: Annotated[UploadFile, Depends(guard_upload("image", guard))]) -> dict:
        data = await image.read()  # the guard read it: it must be rewound
        return {"bytes": len(data), "flagged": request.state.nsfw.flagged, "code": request.state.nsfw.code}

    return app


def post(app: FastAPI, data: bytes | None):
    with TestClient(app) as http:
        files = {"image": ("upload.png", data, "image/png")} if data is not None else None
        return http.post("/upload", files=files, data=None if files else {"other": "x"})


@pytest.mark.parametrize(("data", "unknown", "allowed", "flagged", "code"), GUARD_CASES)
def test_fastapi_guard(service: str, data: bytes, unknown, allowed: bool, flagged: bool, code: str) -> None:
    response = post(make_app(service, unknown=unknown), data)
    if allowed:
        assert response.status_code == 200, response.text
        assert response.json() == {"bytes": len(data), "flagged": flagged, "code": code}
    else:
        assert response.status_code == 422  # FastAPI's own validation error, in its own shape
        [error] = response.json()["detail"]
        assert (error["type"], error["loc"]) == (code, ["body", "image"])


def test_fastapi_adult_detail_names_the_verdict(service: str) -> None:
    [error] = post(make_app(service), ADULT.read_bytes()).json()["detail"]
    assert error["ctx"] == {"verdict": "adult"} and "adult content" in error["msg"]


def test_fastapi_guard_needs_the_field(service: str) -> None:
    response = post(make_app(service), None)
    assert response.status_code == 422 and response.json()["detail"][0]["type"] == "missing"


@pytest.mark.parametrize(("fail", "allowed", "flagged"), DOWN_CASES)
def test_fastapi_guard_when_the_service_is_down(fail, allowed: bool, flagged: bool) -> None:
    response = post(make_app(nowhere(), fail=fail), SAFE.read_bytes())
    if allowed:
        assert response.json() == {"bytes": SAFE.stat().st_size, "flagged": flagged, "code": "nsfw_unchecked"}
    else:
        assert response.status_code == 422 and response.json()["detail"][0]["type"] == "nsfw_unchecked"
