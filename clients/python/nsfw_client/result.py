"""Typed answers of the service: a classification (``Result``) and its parts.

Field names are the JSON's (``/openapi.json``, schema ``Classification``). Fields the service
answers only for some inputs, deployments or versions (``decided_by``, ``video``, ``timeline``,
``pdq``, ``frames_pdq``, ``match``) are optional; ``raw`` keeps the whole JSON, so a field newer
than this client is not lost.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

Verdict = Literal["adult", "unknown", "safe"]
VERDICTS: tuple[Verdict, ...] = ("adult", "unknown", "safe")


@dataclasses.dataclass(frozen=True)
class Image:
    format: str
    width: int
    height: int


@dataclasses.dataclass(frozen=True)
class Video:
    duration_s: float | None
    width: int
    height: int
    codec: str
    frames_classified: int
    frames_decoded: int


@dataclasses.dataclass(frozen=True)
class Pdq:
    """A PDQ perceptual hash: 256 bits as 64 hex digits, and its quality (0-100)."""

    hash: str
    quality: int


@dataclasses.dataclass(frozen=True)
class Match:
    """Known content this image's hash matched: a decided review item (``item``) or a hash list (``list``)."""

    source: Literal["review", "list"]
    distance: int  # bits between the two hashes
    item: int | None = None
    list: str | None = None


@dataclasses.dataclass(frozen=True)
class Frame:
    """One classified frame of a video: its time in seconds, its scores and its hash."""

    t: float
    scores: dict[str, float]
    pdq: Pdq | None = None


@dataclasses.dataclass(frozen=True)
class Result:
    """One image or video classified. ``verdict`` is what to act on: adult, unknown (ask a person) or safe."""

    source: str
    model: str
    scores: dict[str, float]
    top: str
    nsfw: float
    verdict: Verdict
    categories: dict[str, Any]
    frames: int
    image: Image
    timing_ms: dict[str, float]
    cached: bool
    # "review": a person decided these bytes (or a near-duplicate's); "list": a hash list did (see match)
    decided_by: Literal["model", "review", "list"] | None = None
    video: Video | None = None
    timeline: tuple[Frame, ...] | None = None  # a video's classified frames, in order
    pdq: Pdq | None = None  # the answered frame's perceptual hash, where the service computes one
    frames_pdq: tuple[Pdq, ...] | None = None  # an animation's classified frames' hashes, in order
    match: Match | None = None  # the known content that decided the verdict, where the service found one
    raw: Mapping[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Result:
        video = data.get("video")
        timeline = data.get("timeline")
        return cls(
            source=data["source"],
            model=data["model"],
            scores=dict(data["scores"]),
            top=data["top"],
            nsfw=float(data["nsfw"]),
            verdict=data["verdict"],
            categories=dict(data["categories"]),
            frames=int(data["frames"]),
            image=Image(**data["image"]),
            timing_ms=dict(data["timing_ms"]),
            cached=bool(data["cached"]),
            decided_by=data.get("decided_by"),
            video=Video(**video) if video is not None else None,
            timeline=None if timeline is None else tuple(_frame(f) for f in timeline),
            pdq=_pdq(data.get("pdq")),
            frames_pdq=None if data.get("frames_pdq") is None else tuple(Pdq(**p) for p in data["frames_pdq"]),
            match=None if data.get("match") is None else Match(**data["match"]),
            raw=data,
        )


def _pdq(data: Mapping[str, Any] | None) -> Pdq | None:
    return None if data is None else Pdq(hash=data["hash"], quality=int(data["quality"]))


def _frame(data: Mapping[str, Any]) -> Frame:
    return Frame(t=data["t"], scores=dict(data["scores"]), pdq=_pdq(data.get("pdq")))


# The fields a Result reads from the JSON, and those it requires: tests compare them with the served schema.
FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Result) if f.name != "raw")
REQUIRED: tuple[str, ...] = tuple(
    f.name
    for f in dataclasses.fields(Result)
    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
)
