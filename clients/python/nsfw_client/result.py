"""Typed answers of the service: a classification (``Result``) and its parts.

Field names are the JSON's (``/openapi.json``, schema ``Classification``). Fields the service
adds only in some deployments or versions (``decided_by``, ``video``, ``timeline``, ``match``,
``pdq``) are optional; ``raw`` keeps the whole JSON, so a field newer than this client is not lost.
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
class Frame:
    """One classified frame of a video: its time in seconds and its scores."""

    t: float
    scores: dict[str, float]


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
    decided_by: Literal["model", "review"] | None = None  # "review": a person decided these bytes
    video: Video | None = None
    timeline: tuple[Frame, ...] | None = None  # a video's classified frames, in order
    match: Mapping[str, Any] | None = None  # known-content match, where the service answers one
    pdq: Mapping[str, Any] | None = None  # the image's PDQ hash, where the service answers one
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
            timeline=None if timeline is None else tuple(Frame(t=f["t"], scores=dict(f["scores"])) for f in timeline),
            match=data.get("match"),
            pdq=data.get("pdq"),
            raw=data,
        )


# The fields a Result reads from the JSON, and those it requires: tests compare them with the served schema.
FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Result) if f.name != "raw")
REQUIRED: tuple[str, ...] = tuple(
    f.name
    for f in dataclasses.fields(Result)
    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
)
