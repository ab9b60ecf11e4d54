"""Decode untrusted video (MP4/MOV, WebM, Matroska) into RGB frames for the model, with PyAV.

Runs inside the sandboxed decoder process (``nsfw.imaging.decoder``), under the same CPU
timer and memory limit as images, with a budget of its own (``NSFW_VIDEO_CPU_S``). Rules:

* Containers are named by their bytes (``video_headers.sniff``): an ISO-BMFF ``ftyp`` box with a
  video brand (MP4, MOV; HEIF/AVIF image brands are not video) or a QuickTime atom,
  or an EBML header whose DocType is ``webm`` or ``matroska``. FFmpeg is then told that
  one demuxer by name (``format_whitelist`` too), so it never probes: HLS, DASH, concat,
  image2 and FFmpeg's hundreds of other demuxers are unreachable.
* FFmpeg never opens anything but the bytes it is handed: they are a file-like object
  (no protocol is ever reached for them), every request to open another file or URL
  goes to :func:`_refuse_open` and fails, the protocol whitelist names no protocol, and
  MOV data references are off (``enable_drefs`` 0, ``use_absolute_path`` 0).
* Decoders: only H.264, HEVC, VP8, VP9 and AV1 (``codec_whitelist`` holds FFmpeg from
  opening any other, even while it probes the streams); a first video stream with another
  codec is ``UnsupportedCodec`` (415). Other streams (audio, subtitles) are ignored.
* Bounds: at most ``MAX_STREAMS`` streams; the declared duration and every decoded
  frame's time at most ``NSFW_VIDEO_MAX_DURATION_S`` (``VideoTooLong``); frame size at
  most ``NSFW_VIDEO_MAX_PIXELS``, from the headers and again inside the decoder
  (FFmpeg's ``max_pixels``) (``VideoTooLarge``); at most ``NSFW_VIDEO_MAX_DECODED_FRAMES``
  frames decoded (``VideoTooComplex``). One thread (the decoder's and swscale's own thread
  pools are off): one frame in flight, one core per decoder process as for images, and the
  CPU timer (which counts every thread of the process anyway) measures what it costs.
* Frames: ``NSFW_VIDEO_FRAMES`` times spread evenly over the declared duration, the first
  at 0. When the keyframe at or before a time has not been decoded yet (by the container's
  index; without one, when the time lies further ahead than the longest keyframe interval
  seen), the demuxer seeks to it and that keyframe is taken: one frame decoded instead of
  the whole stretch before it. Otherwise decoding goes on to the first frame at or after
  the time. Without a declared duration every frame is decoded
  and an even spread of the ones seen is kept (a window that doubles when it fills).
* Each frame becomes uint8 RGB (FFmpeg's swscale), turned as its display matrix says (a
  phone's portrait video, stored sideways), as players and browsers show it; the width and
  height answered are the displayed ones. It is handed to ``emit(rgb, t)``,
  which returns False to stop early (``NSFW_VIDEO_STOP_AT_ADULT``); the decoder process
  preprocesses it exactly as an image.
* Any other FFmpeg failure is ``CorruptVideo`` (422); running out of memory is
  ``VideoTooLarge``; the container is closed on every path.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import io
from collections.abc import Callable
from typing import Any, NoReturn

import numpy as np

from nsfw.errors import (
    CorruptVideo,
    ServiceError,
    UnsupportedCodec,
    VideoTooComplex,
    VideoTooLarge,
    VideoTooLong,
)
from nsfw.imaging.video_frames import FrameReader, VideoLimits, check_pixels
from nsfw.imaging.video_headers import HEAD_BYTES, sniff

__all__ = ["VideoFacts", "VideoLimits", "available", "decode_video"]

MAX_STREAMS = 16  # FFmpeg's max_streams: a file with more is refused while it is opened
DEMUXERS = {"mov": "mov,mp4,m4a,3gp,3g2,mj2", "matroska": "matroska,webm"}
# FFmpeg decoder name -> the codec answered; libdav1d is the wheel's AV1 decoder, libvpx the alternatives
DECODERS = {
    "h264": "h264",
    "hevc": "hevc",
    "vp8": "vp8",
    "libvpx": "vp8",
    "vp9": "vp9",
    "libvpx-vp9": "vp9",
    "av1": "av1",
    "libdav1d": "av1",
}


@functools.cache
def available() -> bool:
    """Whether PyAV (the ``video`` extra) is installed; checked without importing it."""
    return importlib.util.find_spec("av") is not None


@dataclasses.dataclass(frozen=True)
class VideoFacts:
    container: str  # "mov" or "matroska"
    codec: str  # "h264", "hevc", "vp8", "vp9" or "av1"
    width: int
    height: int
    duration_s: float | None  # declared; None when the container does not say
    frames_decoded: int
    frames_classified: int


def _refuse_open(url: str, flags: int, options: object) -> NoReturn:
    """FFmpeg asks for another file or URL (a MOV data reference, a playlist entry): never."""
    raise PermissionError("this service opens nothing but the uploaded bytes")


def decode_video(
    data: bytes,
    limits: VideoLimits,
    emit: Callable[[object, float], bool],
    convert: Callable[[np.ndarray], object] = lambda rgb: rgb,
    on_header: Callable[[int], None] | None = None,
) -> VideoFacts:
    """Decode the sampled frames of a video body under the rules above.

    Each sampled frame is turned by ``convert(rgb)`` into what is kept of it (the decoder
    process: the model input, 600 KB instead of a 25 MB 4K frame) and handed to
    ``emit(kept, t)`` with its time in seconds. ``on_header(pixels)`` is called once the
    stream's size is known and checked, before any frame of it is decoded.
    """
    demuxer = sniff(data[:HEAD_BYTES])
    if demuxer is None:
        raise CorruptVideo("the body is not an MP4, MOV, WebM or Matroska video")
    import av  # the `video` extra; the worker checked it is installed
    import av.logging

    options = {
        "format_whitelist": DEMUXERS[demuxer],
        "codec_whitelist": ",".join(DECODERS),
        "protocol_whitelist": "none",
        "max_streams": str(MAX_STREAMS),
    }
    if demuxer == "mov":
        options.update(enable_drefs="0", use_absolute_path="0")
    av.logging.set_level(av.logging.ERROR)  # while opening: to tell "too many streams" from other failures
    try:
        with av.logging.Capture() as logs:
            container = av.open(io.BytesIO(data), mode="r", format=demuxer, options=options, io_open=_refuse_open)
    except Exception as exc:
        if any("max_streams" in str(line[2]) for line in logs[:100]):
            raise VideoTooComplex(f"the video has more than {MAX_STREAMS} streams") from exc
        if isinstance(exc, MemoryError):
            raise VideoTooLarge("opening the video needs more memory than this service allows") from exc
        raise CorruptVideo(f"the {_NAMES[demuxer]} file is truncated or corrupt") from exc
    finally:
        av.logging.set_level(None)
    try:
        return _decode(container, demuxer, limits, emit, convert, on_header)
    except ServiceError:
        raise
    except MemoryError as exc:
        raise VideoTooLarge("decoding the video needs more memory than this service allows") from exc
    except Exception as exc:  # FFmpeg and PyAV raise many kinds for bad data; all mean the same
        raise CorruptVideo(
            f"the {_NAMES[demuxer]} video is truncated or corrupt, or its frames are larger than its headers say"
        ) from exc
    finally:
        container.close()


_NAMES = {"mov": "MP4/MOV", "matroska": "WebM/Matroska"}


def _decode(
    container: Any,
    demuxer: str,
    limits: VideoLimits,
    emit: Callable[[object, float], bool],
    convert: Callable[[np.ndarray], object],
    on_header: Callable[[int], None] | None,
) -> VideoFacts:
    if len(container.streams) > MAX_STREAMS:
        raise VideoTooComplex(f"the video has more than {MAX_STREAMS} streams")
    if not container.streams.video:
        raise CorruptVideo("the file holds no video stream")
    stream = container.streams.video[0]
    context = stream.codec_context
    codec = DECODERS.get(context.name)
    if codec is None:
        raise UnsupportedCodec(f"the video is {context.name}; this service decodes H.264, HEVC, VP8, VP9 and AV1")
    width, height = context.width, context.height
    if width < 1 or height < 1:
        raise CorruptVideo("the video stream states no frame size")
    check_pixels(width, height, limits.max_pixels)
    duration = _duration(container, stream)
    if duration is not None and duration > limits.max_duration_s:
        limit = limits.max_duration_s
        raise VideoTooLong(f"the video lasts {duration:.0f} s; this service accepts at most {limit:g} s")
    context.options = {"max_pixels": str(limits.max_pixels)}
    context.thread_count = 1  # and swscale gets threads=1 (see video_frames.rgb): the decoder process runs one thread
    context.thread_type = "NONE"
    if on_header is not None:
        on_header(width * height)

    reader = FrameReader(container, stream, limits, convert)
    if duration:
        count = reader.spread(duration, emit)
    else:
        count = reader.window(emit)
    if count == 0:
        raise CorruptVideo("no frame of the video could be decoded")
    if reader.turns % 2:  # answered as displayed
        width, height = height, width
    return VideoFacts(demuxer, codec, width, height, duration, reader.decoded, count)


def _duration(container: Any, stream: Any) -> float | None:
    """The declared duration in seconds: the container's, else the stream's; None if neither says."""
    if container.duration is not None and container.duration > 0:
        return float(container.duration) / 1_000_000
    if stream.duration is not None and stream.duration > 0 and stream.time_base:
        return float(stream.duration * stream.time_base)
    return None
