"""The messages between a worker and its decoder processes, and how the worker reads the replies.

A message is a fixed header with two lengths, a JSON object, raw bytes. The image goes to the
decoder as raw bytes; its model inputs come back through shared memory, and the reply's JSON
says how many frames it holds. Nothing is unpickled, and every field of a reply is checked
here: a decoder subverted by its input can only send numbers for its own image.
"""

from __future__ import annotations

import dataclasses
import json
import os
import select
import struct
import time
from collections.abc import Callable
from typing import IO, Any, TypedDict

import numpy as np

from nsfw.errors import (
    CorruptImage,
    CorruptVideo,
    ImageTooComplex,
    ImageTooLarge,
    ServiceError,
    UnsupportedCodec,
    UnsupportedMedia,
    VideoTooComplex,
    VideoTooLarge,
    VideoTooLong,
)
from nsfw.imaging.pdq import Pdq

_HEADER = struct.Struct("!II")  # json length, payload length
_MAX_JSON = 64 * 1024
# A message's JSON object, as the peer sent it: checked field by field by whoever reads it.
Header = dict[str, Any]
# A video frame's model input, its time in seconds and its hash -> go on decoding?
OnFrame = Callable[[np.ndarray, float, Pdq], bool]
_ERRORS = {
    cls.code: cls
    for cls in (
        CorruptImage,
        ImageTooComplex,
        ImageTooLarge,
        UnsupportedMedia,
        CorruptVideo,
        UnsupportedCodec,
        VideoTooComplex,
        VideoTooLarge,
        VideoTooLong,
    )
}


class VideoSummary(TypedDict):
    """A video's facts as the decoder reports them."""

    duration_s: float | None
    codec: str
    frames_decoded: int
    frames_classified: int


@dataclasses.dataclass(frozen=True)
class Prepared:
    """What the decoder hands back: the image's facts and one model input per chosen frame."""

    format: str
    width: int
    height: int
    frame_count: int
    tensors: tuple[np.ndarray, ...]  # float32 arrays of shape (1, size, size, 3)
    decode_ms: float
    preprocess_ms: float
    video: VideoSummary | None = None  # a video's facts: duration_s, codec, frames_decoded, frames_classified
    pdq: tuple[Pdq, ...] = ()  # each frame's perceptual hash, in the order of ``tensors``


# --- messages --------------------------------------------------------------------------------
def write_message(pipe: IO[bytes], header: Header, payload: bytes = b"") -> None:
    raw = json.dumps(header).encode()
    pipe.write(_HEADER.pack(len(raw), len(payload)) + raw)
    if payload:
        pipe.write(payload)
    pipe.flush()


def read_message(pipe: IO[bytes], deadline: float | None = None) -> tuple[Header, bytes]:
    """One message; TimeoutError if ``deadline`` (monotonic) passes first, EOFError if the peer is gone."""
    head = _read_exactly(pipe, _HEADER.size, deadline)
    json_len, payload_len = _HEADER.unpack(head)
    if json_len > _MAX_JSON:
        raise ValueError("header too long")
    header = json.loads(_read_exactly(pipe, json_len, deadline))
    if not isinstance(header, dict):
        raise ValueError("header is not an object")
    return header, _read_exactly(pipe, payload_len, deadline)


def _read_exactly(pipe: IO[bytes], n: int, deadline: float | None) -> bytes:
    fd = pipe.fileno()
    chunks: list[bytes] = []
    got = 0
    while got < n:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


# --- replies ---------------------------------------------------------------------------------
def reported_error(error: Any) -> ServiceError:
    """The typed error a decoder reported as ``{"code", "message"}``; an unknown code is a corrupt image."""
    cls = _ERRORS.get(error.get("code"), CorruptImage)
    return cls(str(error.get("message") or cls.default_message)[:500])


def image_reply(header: Header, size: int, max_frames: int) -> tuple[int, tuple[Pdq, ...]]:
    """How many frames an image's reply holds, and their hashes; ValueError or CorruptImage if nonsense."""
    frames, hashes = header.get("frames"), header.get("pdq")
    if header.get("size") != size or type(frames) is not int or not 1 <= frames <= max_frames:
        raise ValueError("frames")
    if not isinstance(hashes, list) or len(hashes) != frames:
        raise ValueError("hashes")
    return frames, tuple(parse_pdq(value, CorruptImage) for value in hashes)


def image_prepared(header: Header, tensors: tuple[np.ndarray, ...], hashes: tuple[Pdq, ...]) -> Prepared:
    """An image's Prepared from its checked reply and the model inputs copied out of shared memory."""
    return Prepared(
        format=str(header["format"]),
        width=int(header["width"]),
        height=int(header["height"]),
        frame_count=int(header["frame_count"]),
        tensors=tensors,
        decode_ms=float(header["decode_ms"]),
        preprocess_ms=float(header["preprocess_ms"]),
        pdq=hashes,
    )


def video_prepared(header: Header, frames_seen: int) -> Prepared:
    """A video's Prepared from its final reply; its frames were handed over one by one before it."""
    facts = header["video"]
    duration = facts.get("duration_s")
    return Prepared(
        format=str(header["format"]),
        width=int(header["width"]),
        height=int(header["height"]),
        frame_count=int(header["frame_count"]),
        tensors=(),
        decode_ms=float(header["decode_ms"]),
        preprocess_ms=float(header["preprocess_ms"]),
        video={
            "duration_s": None if duration is None else float(duration),
            "codec": str(facts["codec"]),
            "frames_decoded": int(facts["frames_decoded"]),
            "frames_classified": frames_seen,
        },
    )


def parse_pdq(value: object, error: type[ServiceError]) -> Pdq:
    """A hash as the decoder sent it; a decoder subverted by its input can send only a well-formed one."""
    try:
        return Pdq.parse(value)
    except ValueError:
        raise error("the decoder answered nonsense") from None
