"""What the core answers, and the two ways later layers take part in its work without it knowing them.

A :class:`Classification` is the value every front end (web, CLI, batch) receives. An
:class:`Observer` watches the work (metrics, the review queue); a :class:`Matcher` answers from
memory whether an image is known content. Both are given to the Detector by whoever builds it, so
the core never imports the layers above it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from nsfw.imaging.pdq import Pdq
from nsfw.imaging.wire import VideoSummary
from nsfw.known.match import Match


@dataclasses.dataclass(frozen=True)
class Classification:
    model: str
    scores: dict[str, float]  # class name -> probability, for the chosen frame
    image_format: str
    width: int
    height: int
    frames: int  # frames classified (1 for a still image)
    timings_ms: dict[str, float]  # stage name -> milliseconds, for this call
    cached: bool = False
    size: int = 0  # bytes of the image as classified (downloaded or uploaded)
    video: VideoSummary | None = None  # a video's duration_s, codec, frames_decoded, frames_classified
    timeline: tuple[dict[str, Any], ...] = ()  # a video's classified frames: {"t": seconds, "scores": {...}}, in order
    sha256: str = ""  # hex digest of those bytes (the review queue's key); not kept in the cache
    pdq: Pdq | None = None  # the perceptual hash of the answered frame (always set by the Detector)
    frames_pdq: tuple[Pdq, ...] = ()  # every classified frame's Pdq in order (an animation's, a video's timeline)
    match: Match | None = None  # known content this hash matched (Detector.match_with); never cached


class Matcher:
    """Known content, consulted by the core through this interface only (``Detector.match_with``).

    ``rejected`` runs on the request thread once the image is decoded and hashed, before inference:
    a match raises ``ListedContent`` and nothing of the image is classified, cached or observed.
    ``match`` gives what else the hash matches (a review decision, an ``adult`` or ``safe`` list).
    Both must answer from memory in about a millisecond: no database on the request path.
    """

    def rejected(self, pdq: Pdq) -> Match | None:
        """The ``reject`` list entry this hash is within reach of, or None."""
        return None

    def match(self, pdq: Pdq) -> Match | None:
        """The review decision, or else the ``adult``/``safe`` list entry, this hash matches."""
        return None


class Observer:
    """The core's one extension point: something that watches its work without changing the answer.

    The web layer's metrics count downloads; the review queue queues sightings. An observer is given
    to :meth:`Detector.observe` by whoever builds the Detector; every method runs on the request thread
    after the work it reports and must not block (hand work to a thread of your own). An exception in
    ``classified`` is logged and never costs the answer. Override what you need; the rest do nothing.
    """

    #: True when ``classified`` must see every result, cached ones too, with the model input when it was
    #: computed for the call. Costs a sha256 per image even with the result cache off.
    wants_results: bool = False

    def fetched(self, size: int) -> None:
        """A download of ``size`` bytes finished."""

    def queued(self, depth: int) -> None:
        """``depth`` images now wait for a decoder (called under the decoder pool's lock: be quick)."""

    def classified(self, result: Classification, url: str | None, model_input: np.ndarray | None) -> None:
        """``result`` was answered for ``url`` (None for an upload); ``model_input`` is the answered frame's
        input tensor when this call ran the model, None when it came from the cache."""

    def decoder(self, event: str) -> None:
        """A decoder process ``"started"``, or ended: ``"deadline"`` (killed at the request's deadline),
        ``"cpu"`` or ``"memory"`` (over its budget), ``"crashed"`` or ``"abandoned"`` (its caller stopped)."""

    def close(self) -> None:
        """The Detector is closing: stop background work."""
