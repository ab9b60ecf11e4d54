"""A video through the core: its sampled frames classified one by one as the decoder hands them over."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from nsfw.errors import CorruptVideo, VideoUnsupported
from nsfw.extras import hint
from nsfw.imaging import video
from nsfw.imaging.pdq import Pdq
from nsfw.imaging.sandbox import DecoderPool
from nsfw.models.runner import Runner
from nsfw.pipeline.inference import elapsed_ms
from nsfw.pipeline.interface import Classification
from nsfw.verdict import nsfw_score

# One frame's model input -> its probabilities and the milliseconds inference took (on the inference
# thread, under the call's deadline).
Infer = Callable[[np.ndarray], tuple[np.ndarray, float]]


def classify_video(
    data: bytes, runner: Runner, deadline: float, decoders: DecoderPool, infer: Infer, stop_at: float | None
) -> Classification:
    """A video's frames are classified as the decoder hands them over, worst frame answered.

    With ``stop_at`` (the adult threshold, when NSFW_VIDEO_STOP_AT_ADULT is on) the first frame
    whose nsfw score reaches it stops the decoder: no further frame is decoded or classified.
    """
    require_video()
    submitted = time.perf_counter()
    timeline: list[dict[str, Any]] = []
    spent = [0.0]

    def on_frame(tensor: np.ndarray, t: float, pdq: Pdq) -> bool:
        probs, ms = infer(tensor)
        spent[0] += ms
        scores = {name: float(p) for name, p in zip(runner.classes, probs)}
        timeline.append({"t": t, "scores": scores, "pdq": pdq})
        return stop_at is None or nsfw_score(scores) < stop_at

    prepared = decoders.prepare(data, runner.input_size, deadline, on_frame)
    if prepared.video is None:  # a decoder subverted by the video answered as for an image
        raise CorruptVideo("the decoder answered nonsense")
    timings = {
        "queue": 0.0,
        "decode": prepared.decode_ms,
        "preprocess": prepared.preprocess_ms,
        "inference": round(spent[0], 3),
    }
    timings["queue"] = round(max(0.0, elapsed_ms(submitted) - sum(timings.values())), 3)
    worst = max(timeline, key=lambda frame: nsfw_score(frame["scores"]))  # the first of equals
    return Classification(
        model=runner.spec.name,
        scores=worst["scores"],
        image_format=prepared.format,
        width=prepared.width,
        height=prepared.height,
        frames=len(timeline),
        timings_ms=timings,
        size=len(data),
        video={**prepared.video, "frames_classified": len(timeline)},
        timeline=tuple(timeline),
        pdq=worst["pdq"],
        frames_pdq=tuple(frame["pdq"] for frame in timeline),
    )


def require_video() -> None:
    """VideoUnsupported unless PyAV is installed."""
    if not video.available():
        raise VideoUnsupported(f"this service was installed without video support: {hint('video')}")
