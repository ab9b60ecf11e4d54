"""FastAPI upload guard: a dependency that hands the view the checked, rewound upload.

    guard = Guard(AsyncClient("http://127.0.0.1:8080"), unknown="refuse", fail="open")

    @app.post("/avatar")
    async def avatar(image: UploadFile = Depends(guard_upload("image", guard))):
        data = await image.read()   # rewound: from the start

A refusal is FastAPI's own ``RequestValidationError`` (422, ``{"detail": [...]}`` with the
field's ``loc`` and ``type`` the decision's code); ``request.state.nsfw`` is the decision.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request, UploadFile
from fastapi.exceptions import RequestValidationError

from nsfw_client.guard import Decision, Guard


def guard_upload(field: str, guard: Guard) -> Callable[[Request], Awaitable[UploadFile]]:
    """A dependency for the multipart ``field``: its UploadFile once the guard allowed it (it must be sent)."""

    async def dependency(request: Request) -> UploadFile:
        upload = (await request.form()).get(field)  # Starlette parses the form once per request
        if not isinstance(upload, UploadFile):
            raise RequestValidationError([_error(field, "missing", "Field required")])
        start = upload.file.tell()
        try:
            decision = await guard.acheck(await upload.read())
        finally:
            await upload.seek(start)
        request.state.nsfw = decision
        if not decision.allowed:
            raise RequestValidationError([_error(field, decision.code, decision.message, decision)])
        return upload

    return dependency


def _error(field: str, kind: str, message: str, decision: Decision | None = None) -> dict[str, object]:
    error: dict[str, object] = {"type": kind, "loc": ("body", field), "msg": message, "input": None}
    if decision is not None and decision.verdict is not None:
        error["ctx"] = {"verdict": decision.verdict}
    return error
