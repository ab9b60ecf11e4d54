"""The upload guards' one decision: allow, refuse or flag an upload, whatever the framework.

The framework modules (``nsfw_client.flask``, ``.django``, ``.fastapi``) only read the upload,
ask :class:`Guard`, rewind the upload and turn a refusal into the framework's validation error.

- ``adult`` is refused, and so is an upload matching one of the service's ``reject`` hash lists.
- ``unknown`` follows ``unknown=``: ``"allow"``, ``"refuse"`` or ``"flag"`` (allowed, marked for a person).
- An upload the service cannot decode (not an image or video, corrupt, too large) is refused.
- The service down (unreachable, still busy after the retries, misconfigured key, failing) follows
  ``fail=``: ``"open"`` allows the upload and flags it, ``"closed"`` refuses it.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from nsfw_client import errors
from nsfw_client._core import Source
from nsfw_client.aio import AsyncClient
from nsfw_client.client import Client
from nsfw_client.result import Result, Verdict

UnknownPolicy = Literal["allow", "refuse", "flag"]
FailMode = Literal["open", "closed"]
# Item errors that say the upload itself cannot be checked, not that the service is down.
UNREADABLE = frozenset(
    {
        "unsupported_media",
        "corrupt_image",
        "image_too_large",
        "image_too_complex",
        "too_large",
        "invalid_base64",
        "video_unsupported",
        "unsupported_codec",
        "corrupt_video",
        "video_too_large",
        "video_too_long",
        "video_too_complex",
    }
)
MESSAGES = {
    "nsfw_adult": "This file was refused: it looks like adult content.",
    "nsfw_listed": "This file was refused: it matches content this service refuses.",
    "nsfw_unknown": "This file was refused: it could not be confirmed as safe.",
    "nsfw_unreadable": "This file could not be read as an image or a video.",
    "nsfw_unchecked": "This file could not be checked right now; please try again later.",
}


@dataclasses.dataclass(frozen=True)
class Decision:
    """What the guard decided. ``code`` names why (``nsfw_safe``, ``nsfw_adult``, ``nsfw_unknown``,
    ``nsfw_listed``, ``nsfw_unreadable``, ``nsfw_unchecked``); ``flagged``: allowed, but a person should look."""

    allowed: bool
    flagged: bool
    code: str
    message: str
    result: Result | None = None
    error: errors.NsfwError | None = None

    @property
    def verdict(self) -> Verdict | None:
        return self.result.verdict if self.result is not None else None


class Guard:
    """A client plus the policies; ``check`` (sync client) or ``acheck`` (async client) an upload."""

    def __init__(
        self,
        client: Client | AsyncClient,
        *,
        unknown: UnknownPolicy = "flag",
        fail: FailMode = "closed",
        model: str | None = None,
    ) -> None:
        check_policies(unknown, fail)
        self.client, self.unknown, self.fail, self.model = client, unknown, fail, model

    def check(self, upload: Source) -> Decision:
        """Classify ``upload`` (a file object is put back where it was) and decide."""
        if not isinstance(self.client, Client):
            raise TypeError("Guard.check needs a Client; use acheck with an AsyncClient")
        try:
            return self.decide(self.client.classify(upload, model=self.model))
        except errors.NsfwError as error:
            return self.decide(error)

    async def acheck(self, upload: Source) -> Decision:
        """``check`` for an :class:`AsyncClient`."""
        if not isinstance(self.client, AsyncClient):
            raise TypeError("Guard.acheck needs an AsyncClient; use check with a Client")
        try:
            return self.decide(await self.client.classify(upload, model=self.model))
        except errors.NsfwError as error:
            return self.decide(error)

    def decide(self, outcome: Result | errors.NsfwError) -> Decision:
        if isinstance(outcome, Result):
            if outcome.verdict == "adult":
                return refuse("nsfw_adult", result=outcome)
            if outcome.verdict == "unknown" and self.unknown != "allow":
                if self.unknown == "refuse":
                    return refuse("nsfw_unknown", result=outcome)
                return Decision(True, True, "nsfw_unknown", "flagged for review", result=outcome)
            return Decision(True, False, f"nsfw_{outcome.verdict}", "allowed", result=outcome)
        if isinstance(outcome, errors.ListedContent):  # a `reject` hash list: refused before classifying
            return refuse("nsfw_listed", error=outcome)
        if isinstance(outcome, errors.APIError) and outcome.code in UNREADABLE:
            return refuse("nsfw_unreadable", error=outcome)
        if self.fail == "open":
            return Decision(True, True, "nsfw_unchecked", "allowed unchecked (fail open)", error=outcome)
        return refuse("nsfw_unchecked", error=outcome)


def check_policies(unknown: str, fail: str) -> None:
    """A misspelt policy fails where the guard is declared, not at the first upload."""
    if unknown not in ("allow", "refuse", "flag"):
        raise ValueError(f"unknown= must be allow, refuse or flag, not {unknown!r}")
    if fail not in ("open", "closed"):
        raise ValueError(f"fail= must be open or closed, not {fail!r}")


def refuse(code: str, result: Result | None = None, error: errors.NsfwError | None = None) -> Decision:
    return Decision(False, False, code, MESSAGES[code], result=result, error=error)
