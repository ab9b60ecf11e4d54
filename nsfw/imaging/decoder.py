"""The decoder process: untrusted bytes in, model inputs out, under a CPU and a memory budget.

Started by :class:`nsfw.imaging.sandbox.DecoderPool` as ``python -m nsfw.imaging.decoder
CONFIG_JSON``; it serves one image at a time, for its whole life. Its limits:

* ``ITIMER_PROF`` (process CPU time) ends the process when an image has used its budget:
  0.25 s plus 100 ns a decoded pixel, at most ``NSFW_DECODE_CPU_S``. The default action of
  SIGPROF is to terminate, so nothing inside Pillow can postpone it, unlike a Python-level
  timeout that waits for a C loop to return.
* ``RLIMIT_DATA`` caps its heap at ``NSFW_DECODE_MEMORY_MB``: an allocation over it fails
  inside Pillow or numpy, and the image is refused as too large.
* No core dumps, no file writes (``RLIMIT_FSIZE`` 0), 16 descriptors.
* Confined by the kernel (``nsfw.imaging.confinement``): not root, no new sockets, no file opened
  for writing, no way into another process (seccomp), once its setup is done.

The worker and the decoder talk in messages (``nsfw.imaging.wire``): a fixed header with two
lengths, a JSON object, raw bytes. The image goes in as raw bytes; the model inputs come back
through a shared memory file (a memfd the worker created and passed at start) so that 600 KB
of floats per frame never cross the pipe; the reply's JSON says how many frames it holds.
Nothing is unpickled: a decoder subverted by its input can only send numbers for its own image.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import mmap
import os
import resource
import signal
import sys
import time
from typing import IO, TYPE_CHECKING, Any, cast

import numpy as np

from nsfw.errors import ImageTooLarge, ServiceError
from nsfw.imaging import confinement
from nsfw.imaging.headers import HEAD_BYTES, image_size, sniff_format
from nsfw.imaging.pdq import Pdq, hash_frame
from nsfw.imaging.video_headers import HEAD_BYTES as VIDEO_HEAD_BYTES
from nsfw.imaging.video_headers import format_name
from nsfw.imaging.video_headers import sniff as sniff_video
from nsfw.imaging.wire import Header, read_message, write_message
from nsfw.settings import DECODER_BASE_MB, MiB, Settings

if TYPE_CHECKING:  # the video module is imported by the decoder only when a video comes
    from nsfw.imaging.video import VideoFacts

# The CPU budget of one image grows with the pixels it decodes: legitimate decodes cost
# 8-20 ns a pixel here (JPEG to lossy WebP), so 100 ns is five times the worst of them,
# while a small file that makes the decoder work far harder than its size is stopped
# early (a 1 MP scan bomb after 0.35 s, not NSFW_DECODE_CPU_S).
BASE_CPU_S = 0.25
CPU_S_PER_PIXEL = 100e-9
# The worker starts decoders with a heap that keeps up to 32 MB free between images (see
# decoder_process.DecoderProcess); an image above this many pixels gets it back first.
TRIM_ABOVE_PIXELS = 4 * 1024 * 1024
WEBP_BYTES_PER_PIXEL = 16  # measured peak: libwebp's RGBA buffer, Pillow's copy, the RGB array
# NSFW_FAST_DECODE: a JPEG is decoded at the smallest DCT scale that keeps both sides at least this
# many times the model's input. Measured on the golden images against nsfwjs: 1x moves a score by up
# to 0.087, 2x by up to 0.027, and 2x costs a 12 MP photo 32 ms of CPU instead of 28 (exact: 98).
FAST_MIN_SIDE = 2
# Formats whose decoders hold more than the 8 bytes a pixel of JPEG and PNG (settings.BYTES_PER_PIXEL).
# HEIF and AVIF: the codec's YCbCr planes and its RGB output besides Pillow's image and the RGB
# array; measured 8.8 (HEVC) and 9.8 (AV1) bytes a pixel at 12 MP, preprocessing included.
FORMAT_BYTES_PER_PIXEL = {"WEBP": WEBP_BYTES_PER_PIXEL, "HEIF": 10, "AVIF": 10}


# --- the process -----------------------------------------------------------------------------
def _libc() -> ctypes.CDLL | None:
    """glibc, for malloc_trim; None elsewhere (musl keeps no such heap)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def _confine(memory_bytes: int) -> None:
    """Limits that hold for the decoder's whole life."""
    resource.setrlimit(resource.RLIMIT_DATA, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write fails with EFBIG instead of killing
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (16, 16))
    signal.signal(signal.SIGPROF, signal.SIG_DFL)  # the CPU budget's timer ends the process


def _load_everything(video: bool) -> None:
    """Every import a decode may need, done while still root: as ``nobody`` the decoder may not be
    able to read the interpreter's own files (an interpreter installed under /root, say)."""
    try:
        import pyseccomp  # noqa: F401  (its import runs ldconfig: a program from the interpreter's files)
    except (ImportError, RuntimeError, OSError):
        pass
    import pdqhash  # noqa: F401  (the perceptual hash's C++ extension, imported by pdq.hash_frame)
    from PIL import Image, ImageOps, TiffImagePlugin  # noqa: F401  (read on a JPEG's EXIF orientation)

    Image.preinit()  # the plugins Pillow itself imports on the first EXIF read (BMP, PPM)

    from nsfw.imaging import decode, plugins, preprocess  # noqa: F401
    from nsfw.imaging import video as video_module

    for load in (plugins.heif_image_class, plugins.load_avif_plugin):
        try:
            load()
        except (ImportError, ServiceError):  # not installed: decoding that format answers so as before
            pass
    if video and video_module.available():
        import av  # noqa: F401
        import av.logging  # noqa: F401


def _check_memory(data: bytes, memory_bytes: int) -> None:
    """libwebp decodes into a buffer of its own before Pillow copies it: a WebP costs about
    twice what a JPEG of the same size does, so it is held to half the pixels up front
    (a failed allocation inside libwebp would otherwise look like a corrupt file). HEIF and
    AVIF likewise, by their own measured cost (FORMAT_BYTES_PER_PIXEL)."""
    fmt = sniff_format(data[:HEAD_BYTES])
    if fmt is not None and (per_pixel := FORMAT_BYTES_PER_PIXEL.get(fmt)) and (size := image_size(data)):
        width, height = size
        if width * height * per_pixel > memory_bytes - DECODER_BASE_MB * MiB:
            name = "WebP" if fmt == "WEBP" else fmt
            raise ImageTooLarge(f"decoding a {width}x{height} {name} needs more memory than this service allows")


def serve(config: dict[str, Any]) -> None:
    """Answer images from stdin until it closes."""
    settings = Settings(max_pixels=config["max_pixels"], max_frames=config["max_frames"])
    video_limits = config.get("video")
    memory_bytes = int(config["memory_bytes"])
    shared_fd, shared = int(config["shared_fd"]), None
    libc = _libc()
    # The replies get a descriptor of their own; anything a library prints goes to stderr.
    stdout = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    stdin = sys.stdin.buffer
    _confine(memory_bytes)
    if os.geteuid() == 0:
        _load_everything(video_limits is not None)
    confinement.confine_decoder()  # no longer root, no sockets, no writes, no way into other processes
    while True:
        try:
            job, data = read_message(stdin)
        except EOFError:
            return
        if shared is None or len(shared) != job["shared_bytes"]:  # the worker grew it
            shared = mmap.mmap(shared_fd, job["shared_bytes"])
        signal.setitimer(signal.ITIMER_PROF, float(config["cpu_seconds"]))
        try:
            if video_limits is not None and sniff_video(data[:VIDEO_HEAD_BYTES]):
                header = _prepare_video(data, int(job["size"]), shared, video_limits, stdin, stdout, libc)
            else:
                header = _prepare(data, int(job["size"]), shared, settings, config, libc)
        except ServiceError as exc:
            header = {"error": exc.to_dict()}
        except MemoryError:
            header = {"error": ImageTooLarge("decoding the image needs more memory than allowed").to_dict()}
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
        del data  # every pixel of this image is gone before the next one comes
        write_message(stdout, header)


def _prepare(
    data: bytes, size: int, shared: mmap.mmap, settings: Settings, config: dict[str, Any], libc: ctypes.CDLL | None
) -> Header:
    """Decode one image and write its model inputs into ``shared``; the reply's header.

    A function of its own so that nothing of the image (the last frame above all, which
    can be 150 MB) outlives it and eats into the next image's memory budget.
    """
    from nsfw.imaging.decode import decode
    from nsfw.imaging.preprocess import to_model_input

    cpu_seconds = float(config["cpu_seconds"])
    started_cpu = time.process_time()

    def budget(pixels: int) -> None:
        """Re-arm the timer for what this many pixels may cost, never past NSFW_DECODE_CPU_S;
        before a large image, hand the heap kept for small ones back, so the whole memory
        budget is there for it."""
        allowed = min(cpu_seconds, BASE_CPU_S + pixels * CPU_S_PER_PIXEL)
        signal.setitimer(signal.ITIMER_PROF, max(0.001, allowed - (time.process_time() - started_cpu)))
        if pixels > TRIM_ABOVE_PIXELS and libc is not None:
            libc.malloc_trim(0)

    t0 = time.perf_counter()
    _check_memory(data, int(config["memory_bytes"]))
    min_side = FAST_MIN_SIDE * size if config.get("fast_decode") else None
    image = decode(data, settings, on_header=budget, min_side=min_side)
    t1 = time.perf_counter()
    out = np.ndarray((len(image.frames), 1, size, size, 3), np.float32, buffer=shared)
    for i, frame in enumerate(image.frames):
        to_model_input(frame, size, out=out[i])  # straight into the shared memory
    hashes = [hash_frame(frame) for frame in image.frames]  # under the same CPU timer and heap limit
    t3 = time.perf_counter()
    return {
        "format": image.format,
        "width": image.width,
        "height": image.height,
        "frame_count": image.frame_count,
        "frames": len(image.frames),
        "size": size,
        "decode_ms": round((t1 - t0) * 1000, 3),
        "preprocess_ms": round((t3 - t1) * 1000, 3),  # the hashes' 0.5 ms included
        "pdq": [[p.hash, p.quality] for p in hashes],
    }


def _prepare_video(
    data: bytes,
    size: int,
    shared: mmap.mmap,
    limits: dict[str, Any],
    stdin: IO[bytes],
    stdout: IO[bytes],
    libc: ctypes.CDLL | None,
) -> Header:
    """Decode a video's sampled frames, one at a time, under the video CPU budget.

    Each frame's model input goes into the shared memory and a ``{"frame", "t", "pdq"}`` message
    tells the worker, which classifies it and answers ``{"continue": bool}`` (False: an
    adult frame was found and NSFW_VIDEO_STOP_AT_ADULT is on); only then is the next frame
    decoded, so one slot of shared memory serves every frame. The timer counts CPU time
    only, so the wait for the worker's answer costs the budget nothing.
    """
    import av  # noqa: F401  (imported once per process, under the image budget: not the video's CPU)

    from nsfw.imaging.preprocess import to_model_input
    from nsfw.imaging.video import VideoLimits, decode_video

    signal.setitimer(signal.ITIMER_PROF, float(limits["cpu_seconds"]))
    if libc is not None:
        libc.malloc_trim(0)  # the whole memory budget for the video
    out = np.ndarray((1, size, size, 3), np.float32, buffer=shared)
    t0 = time.perf_counter()
    spent = {"preprocess": 0.0, "wait": 0.0}
    sent = 0

    def convert(rgb: np.ndarray) -> tuple[np.ndarray, Pdq]:
        started = time.perf_counter()
        kept = to_model_input(rgb, size), hash_frame(rgb)
        spent["preprocess"] += time.perf_counter() - started
        return kept

    def emit(kept: object, t: float) -> bool:
        nonlocal sent
        tensor, pdq = cast("tuple[np.ndarray, Pdq]", kept)  # what convert made
        out[...] = tensor
        write_message(stdout, {"frame": sent, "t": round(float(t), 6), "size": size, "pdq": [pdq.hash, pdq.quality]})
        sent += 1
        started = time.perf_counter()
        answer, _ = read_message(stdin)
        spent["wait"] += time.perf_counter() - started
        return bool(answer.get("continue"))

    fields = {k: limits[k] for k in ("frames", "max_pixels", "max_duration_s", "max_decoded_frames")}
    facts = decode_video(data, VideoLimits(**fields), emit, convert)
    total_ms = (time.perf_counter() - t0) * 1000
    return _video_reply(format_name(data[:VIDEO_HEAD_BYTES]), size, facts, sent, total_ms, spent)


def _video_reply(
    fmt: str | None, size: int, facts: VideoFacts, sent: int, total_ms: float, spent: dict[str, float]
) -> Header:
    """The final reply to a video: its facts, and the milliseconds spent decoding (not waiting for the
    worker) and preprocessing."""
    return {
        "format": fmt,
        "width": facts.width,
        "height": facts.height,
        "frame_count": facts.frames_decoded,
        "frames": 0,  # every frame has been handed over already
        "size": size,
        "video": {
            "duration_s": facts.duration_s,
            "codec": facts.codec,
            "frames_decoded": facts.frames_decoded,
            "frames_classified": sent,
        },
        "decode_ms": round(total_ms - (spent["preprocess"] + spent["wait"]) * 1000, 3),
        "preprocess_ms": round(spent["preprocess"] * 1000, 3),
    }


if __name__ == "__main__":
    serve(json.loads(sys.argv[1]))
