"""Which frames of a video stream are decoded and kept, bounded as ``VideoLimits`` says.

``FrameReader`` counts every decoded frame (``VideoTooComplex`` past the cap), checks each
frame's size and time, and picks the frames to classify: an even spread over the declared
duration, seeking to a keyframe when that skips decoding (``spread``), or, without a duration,
an even spread of every frame seen (``window``). ``rgb`` makes a decoded frame the upright
uint8 RGB the model is given. PyAV's objects are untyped (``Any``); ``video.py`` opens them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from nsfw.errors import VideoTooComplex, VideoTooLarge, VideoTooLong

Convert = Callable[[npt.NDArray[np.uint8]], Any]  # an upright RGB frame -> what emit is given
Emit = Callable[[Any, float], bool]  # (converted frame, its time) -> go on?


@dataclasses.dataclass(frozen=True)
class VideoLimits:
    frames: int = 16  # NSFW_VIDEO_FRAMES
    max_pixels: int = 3840 * 2160  # NSFW_VIDEO_MAX_PIXELS
    max_duration_s: float = 600.0  # NSFW_VIDEO_MAX_DURATION_S
    max_decoded_frames: int = 3000  # NSFW_VIDEO_MAX_DECODED_FRAMES


def check_pixels(width: int, height: int, cap: int) -> None:
    if width * height > cap:
        raise VideoTooLarge(f"the video is {width}x{height} pixels; this service accepts at most {cap} pixels a frame")


class FrameReader:
    """Decoded frames of one stream, counted and bounded; seeks when that is cheaper."""

    def __init__(self, container: Any, stream: Any, limits: VideoLimits, convert: Convert) -> None:
        self.container, self.stream, self.limits, self.convert = container, stream, limits, convert
        self.decoded = 0
        self.turns = 0  # of the last frame decoded (its display matrix)
        self.gop = 0.0  # the longest keyframe interval seen, in seconds
        self._frames: Iterator[Any] | None = None
        self._last_key: float | None = None
        self._last_time = -1.0
        rate = stream.average_rate or stream.guessed_rate
        self._step = 1.0 / float(rate) if rate and float(rate) > 0 else 1 / 30

    def _next(self) -> tuple[Any, float] | None:
        """The next decoded frame and its time in seconds, or None at the end of the stream."""
        if self._frames is None:
            self._frames = self.container.decode(self.stream)
        frame = next(self._frames, None)
        if frame is None:
            return None
        self.decoded += 1
        self.turns = quarter_turns(frame)
        if self.decoded > self.limits.max_decoded_frames:
            raise VideoTooComplex(f"sampling the video needs more than {self.limits.max_decoded_frames} decoded frames")
        check_pixels(frame.width, frame.height, self.limits.max_pixels)  # a size change mid-stream
        t: float | None = frame.time
        if t is None or not math.isfinite(t):  # no timestamp: one frame after the last
            t = self._last_time + self._step
        if t > self.limits.max_duration_s:
            limit = self.limits.max_duration_s
            raise VideoTooLong(f"a frame of the video is stamped at {t:.0f} s; the limit is {limit:g} s")
        if frame.key_frame:
            if self._last_key is not None and t > self._last_key:
                self.gop = max(self.gop, t - self._last_key)
            self._last_key = t
        self._last_time = t
        return frame, t

    def _seek(self, t: float) -> bool:
        """To the keyframe at or before ``t``; False if the stream cannot seek."""
        time_base = self.stream.time_base
        try:
            self.container.seek(int(t / time_base), stream=self.stream, backward=True)
        except Exception:
            return False
        self._frames = None
        self._last_key = None
        return True

    def _until(self, t: float) -> tuple[Any, float] | None:
        """Decode on to the first frame at or after ``t``."""
        while (item := self._next()) is not None:
            if item[1] >= t:
                return item
        return None

    def _keyframe_before(self, t: float) -> float | None:
        """The time of the last keyframe at or before ``t`` by the container's index; None if it has none."""
        try:
            entries = self.stream.index_entries
            if not len(entries):
                return None
            time_base = self.stream.time_base
            found = entries.search_timestamp(int(t / time_base), backward=True)
            return None if found < 0 else float(entries[found].timestamp * time_base)
        except Exception:  # no index, or an unreadable one: decide by the keyframe intervals seen
            return None

    def _worth_seeking(self, target: float) -> bool:
        """Whether a keyframe not yet decoded lies at or before ``target``: seeking there skips every
        frame in between and costs one frame. Without an index: whether ``target`` lies further ahead
        than the longest keyframe interval seen (at first always; a seek that lands on a keyframe
        already passed teaches the interval)."""
        key = self._keyframe_before(target)
        if key is not None:
            return key > self._last_time
        return target - self._last_time > self.gop

    def spread(self, duration: float, emit: Emit) -> int:
        """``limits.frames`` times spread evenly over ``duration``, each the first frame at or after it."""
        n = self.limits.frames
        taken = 0
        previous: float | None = None  # time of the last frame taken
        for i in range(n):
            target = i * duration / n
            if previous is not None and target <= previous:
                continue  # the last frame taken already covers it
            if previous is not None and self._worth_seeking(target) and self._seek(target):
                item = self._next()  # the keyframe: taken as this time's frame
                if item is not None and item[1] <= previous:  # a keyframe already passed: decode on
                    self.gop = max(self.gop, target - item[1])
                    item = self._until(target)
            else:
                item = self._until(target)
            if item is None:
                break
            frame, previous = item
            taken += 1
            if not emit(self.convert(rgb(frame)), previous):
                break
        return taken

    def window(self, emit: Emit) -> int:
        """Without a duration: every frame decoded, an even spread of at most n kept, then emitted."""
        n = self.limits.frames
        kept: list[tuple[float, Any]] = []  # (time, converted frame) of frames whose index is a multiple of `every`
        every, index = 1, 0
        while (item := self._next()) is not None:
            if index % every == 0:
                kept.append((item[1], self.convert(rgb(item[0]))))
                if len(kept) > n:
                    every *= 2
                    kept = kept[::2]
            index += 1
        taken = 0
        for t, frame in kept:
            taken += 1
            if not emit(frame, t):
                break
        return taken


def quarter_turns(frame: Any) -> int:
    """Counterclockwise quarter turns that show the frame as its display matrix says (a phone's
    portrait video is stored sideways with a -90 degree matrix, as browsers and players apply it)."""
    try:
        degrees = float(frame.rotation)
    except Exception:  # no display matrix, or an unreadable one: as stored
        return 0
    return round(degrees / 90) % 4 if math.isfinite(degrees) else 0


def rgb(frame: Any) -> npt.NDArray[np.uint8]:
    """A decoded frame as uint8 HxWx3 RGB (FFmpeg's own conversion), turned upright, read-only."""
    upright: npt.NDArray[np.uint8] = frame.to_ndarray(format="rgb24", threads=1)  # swscale: no threads of its own
    if turns := quarter_turns(frame):
        upright = np.ascontiguousarray(np.rot90(upright, turns))
    upright.flags.writeable = False
    return upright
