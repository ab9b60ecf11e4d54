"""FastAPI upload guard: a dependency that hands the view the checked, rewound upload.

    guard = Guard(AsyncClient("http://127.0.0.1:8080"), unknown="refuse", fail="open")

    @app.post("/avatar")
    async def avatar(image: Annotated[UploadFile, Depends(guard_upload("image", guard))]):
        data = await image.read()   # rewound: from the start

A refusal is FastAPI's own ``RequestValidationError`` (422, ``{"detail": [...]}`` with the
field's ``loc`` and ``type`` the decision's code); ``request.state.nsfw`` is the decision.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import UploadFile  # what request.form() holds (fastapi.UploadFile subclasses it)

from nsfw_client.guard import Decision, Guard


def guard_upload(field: str, guard: Guard) -> Callable[[Request], AsyncIterator[UploadFile]]:
    """A dependency for the multipart ``field``: its UploadFile once the guard allowed it (it must be sent).

    The form's files are closed when the request is done, refused or not.
    """

    async def dependency(request: Request) -> AsyncIterator[UploadFile]:
        form = await request.form()  # Starlette parses the form once per request
        try:
            yield await _checked(request, form.get(field), field, guard)
        finally:
            await form.close()

    return dependency


async def _checked(request: Request, upload: object, field: str, guard: Guard) -> UploadFile:
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


def _error(field: str, kind: str, message: str, decision: Decision | None = None) -> dict[str, object]:
    error: dict[str, object] = {"type": kind, "loc": ("body", field), "msg": message, "input": None}
    if decision is not None and decision.verdict is not None:
        error["ctx"] = {"verdict": decision.verdict}
    return error
