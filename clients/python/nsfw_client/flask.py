"""Flask upload guard: a decorator on the view that receives the upload.

    guard = Guard(Client("http://127.0.0.1:8080"), unknown="flag", fail="closed")

    @app.post("/avatar")
    @guard_upload("image", guard)
    def avatar():
        request.files["image"].save(...)   # rewound: reads from the start

A refusal is a 422 :class:`UploadRefused` (a Werkzeug ``UnprocessableEntity``, so Flask's own
error handling answers it); ``g.nsfw`` holds each field's decisions, ``g.nsfw_flagged`` whether
any upload is allowed but flagged for a person.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import g, request
from werkzeug.exceptions import UnprocessableEntity

from nsfw_client.guard import Decision, Guard

View = TypeVar("View", bound=Callable[..., Any])


class UploadRefused(UnprocessableEntity):
    """422: an upload the guard refused; ``decision.code`` says why (``nsfw_adult``...)."""

    def __init__(self, field: str, decision: Decision) -> None:
        super().__init__(f"{field}: {decision.message}")
        self.field, self.decision = field, decision


def guard_upload(field: str, guard: Guard) -> Callable[[View], View]:
    """Check every file of the multipart ``field`` before the view runs (none sent: nothing to check)."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            decisions = [_check(guard, field, upload.stream) for upload in request.files.getlist(field)]
            g.nsfw = {**getattr(g, "nsfw", {}), field: decisions}
            g.nsfw_flagged = getattr(g, "nsfw_flagged", False) or any(d.flagged for d in decisions)
            return view(*args, **kwargs)

        return guarded  # type: ignore[return-value]

    return decorate


def _check(guard: Guard, field: str, stream: Any) -> Decision:
    start = stream.tell()
    try:
        decision = guard.check(stream)
    finally:
        stream.seek(start)  # the view reads the upload from where it was
    if not decision.allowed:
        raise UploadRefused(field, decision)
    return decision
