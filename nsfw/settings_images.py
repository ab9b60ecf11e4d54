"""The settings of the image path: fetching, decoding, models, results, admission control, video.

Each section is a frozen dataclass whose fields are declared once each with ``var(...)`` (see
nsfw/envvars.py); :class:`nsfw.settings.Settings` inherits them all, in the Configuration page's
order. Declarations are written by hand, one a variable; ruff leaves them as written.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from nsfw.envvars import Flag, Names, Network, Networks, Number, PathText, Ports, Text, var, var_factory

MiB = 1024 * 1024

# What a decoder process needs before it holds any pixels (interpreter, numpy, Pillow, heap
# slack), and what one pixel costs at the peak of a JPEG or PNG decode: Pillow's 4-byte RGBX
# image plus the 3-byte RGB array made from it strip by strip, and allocator slack (measured
# 8.2 bytes per pixel at 10 MP with the base included; see docs/security.md).
DECODER_BASE_MB = 64
BYTES_PER_PIXEL = 8.0

NUM = Number(int, low=1)  # the common case: a positive count


def pixels_for_memory(memory_mb: int) -> int:
    """The pixel cap a decoder memory budget allows: the default NSFW_MAX_PIXELS."""
    return int((memory_mb - DECODER_BASE_MB) * MiB / BYTES_PER_PIXEL)


def _default_model_dir() -> Path:
    """nsfw.settings.default_model_dir(), looked up when a Settings is made: it knows where the package is."""
    from nsfw import settings

    return settings.default_model_dir()


@dataclasses.dataclass(frozen=True)
class Fetching:
    """Fetching: what one download may cost, and where it may go."""

    # fmt: off
    fetch_timeout: float = var(
        "NSFW_FETCH_TIMEOUT", 10.0, Number(float, low=0.1),
        "total seconds for one download: DNS, connect, redirects, headers and body")
    max_bytes: int = var(
        "NSFW_MAX_BYTES", 10 * MiB, NUM,
        "largest image in bytes (10 MiB), downloaded (counted after content decoding) or uploaded")
    fetch_allow_nets: tuple[Network, ...] = var(
        "NSFW_FETCH_ALLOW_NETS", (), Networks(),
        "comma-separated CIDRs exempt from the address check, e.g. `127.0.0.1/32`")
    fetch_allow_ports: frozenset[int] = var(
        "NSFW_FETCH_ALLOW_PORTS", frozenset({80, 443}), Ports(), "comma-separated ports URLs may use")
    max_redirects: int = var(
        "NSFW_MAX_REDIRECTS", 3, Number(int, low=0),
        "most redirects followed; each hop is checked like the first URL")
    user_agent: str = var(
        "NSFW_USER_AGENT", "nsfw-service/1.0 (+image classifier)", Text(), "`User-Agent` sent with downloads")
    spool_bytes: int = var(
        "NSFW_SPOOL_BYTES", 1 * MiB, NUM,
        "downloads and multipart uploads up to this size stay in memory, larger ones spill to a temporary file")
    tmp_dir: str | None = var(
        "NSFW_TMP_DIR", None, Text(), "where temporary files go", shown="system temp dir")
    # fmt: on


@dataclasses.dataclass(frozen=True)
class Decoding:
    """Decoding, in sandboxed decoder processes (nsfw/imaging/sandbox.py): what one image may cost."""

    # fmt: off
    max_pixels: int | None = var(
        "NSFW_MAX_PIXELS", None, NUM,
        "largest image in pixels (width x height); by default what the decoder's memory budget holds at 8 bytes "
        "per pixel (WebP: half as many; HEIF and AVIF: 10 bytes a pixel, so 40 MP)",
        shown=f"from `NSFW_DECODE_MEMORY_MB`: `{pixels_for_memory(448)}`")
    max_frames: int = var(
        "NSFW_MAX_FRAMES", 8, Number(int, low=1, high=64), "most frames classified in an animation")
    decode_cpu_s: float = var(
        "NSFW_DECODE_CPU_S", 2.0, Number(float, low=0.05),
        "CPU seconds one image may cost to decode and preprocess; past it the decoder is killed "
        "(`422 image_too_complex`)")
    decode_memory_mb: int = var(
        "NSFW_DECODE_MEMORY_MB", 448, NUM,
        "heap of one decoder process (`RLIMIT_DATA`); an image that needs more is `413 image_too_large`")
    decoders: int = var(
        "NSFW_DECODERS", 2, Number(int, low=1, high=64), "decoder processes per worker: images decoded at once")
    # fast decoding of large photos (nsfw/imaging/decode.py): JPEGs decoded at a reduced DCT
    # scale that still covers the model's input; not bit-exact with nsfwjs, so off by default
    fast_decode: bool = var(
        "NSFW_FAST_DECODE", False, Flag(),
        "`1` decodes large JPEGs at a reduced DCT scale (1/2, 1/4 or 1/8, keeping both sides at least twice the "
        "model's input): 2x less CPU for a 12 MP photo, 2.4x for 48 MP, but scores move by up to 0.03 from "
        "nsfwjs's (see Performance); other formats are decoded in full either way")
    # fmt: on


@dataclasses.dataclass(frozen=True)
class Models:
    """The models served, and the CPU their inference may use."""

    # fmt: off
    model_dir: Path = var_factory(
        "NSFW_MODEL_DIR", _default_model_dir, PathText(),
        "directory holding `manifest.json` and the `.tflite` files",
        shown="the package's `_model/` when installed, else `model/` in the repo")
    models: tuple[str, ...] = var(
        "NSFW_MODELS", ("mobilenet_v2",), Names(), "comma-separated models to serve; the first is the default")
    model_path: str | None = var(
        "NSFW_MODEL_PATH", None, Text(),
        "a model of your own (`.tflite`, `.keras`, `.h5` or a SavedModel directory), served as `custom`")
    model_classes: tuple[str, ...] = var(
        "NSFW_MODEL_CLASSES", ("drawings", "hentai", "neutral", "porn", "sexy"), Names(),
        "the output classes of `NSFW_MODEL_PATH`, in order", shown="`drawings,hentai,neutral,porn,sexy`")
    model_input_size: int | None = var(
        "NSFW_MODEL_INPUT_SIZE", None, NUM, "the square input size of `NSFW_MODEL_PATH`",
        shown="read from the model")
    inference_threads: int = var(
        "NSFW_INFERENCE_THREADS", 1, NUM, "CPU threads one inference may use")
    interpreters: int = var(
        "NSFW_INTERPRETERS", 1, NUM,
        "images a worker runs through the model at once (inference threads), and LiteRT interpreters per model")
    # fmt: on


@dataclasses.dataclass(frozen=True)
class Results:
    """Verdicts, batches and the per-worker result cache."""

    # fmt: off
    adult_threshold: float = var(
        "NSFW_ADULT_THRESHOLD", 0.8, Number(float, low=0.0, high=1.0),
        "`verdict` is `adult` when `porn + hentai + sexy` is at least this")
    safe_threshold: float = var(
        "NSFW_SAFE_THRESHOLD", 0.2, Number(float, low=0.0, high=1.0),
        "`verdict` is `safe` when `porn + hentai + sexy` is at most this; below `NSFW_ADULT_THRESHOLD`")
    cache_size: int = var(
        "NSFW_CACHE_SIZE", 4096, Number(int, low=0),
        "results remembered per worker; `0` turns the cache off (Redis too)")
    max_batch: int = var(
        "NSFW_MAX_BATCH", 16, NUM, "most images in one `/v1/classify` request")
    batch_concurrency: int = var(
        "NSFW_BATCH_CONCURRENCY", 4, NUM, "images of a batch fetched and classified at once")
    max_request_bytes: int = var(
        "NSFW_MAX_REQUEST_BYTES", 32 * MiB, NUM,
        "largest request body (32 MiB); each image in it is held to `NSFW_MAX_BYTES` too")
    # fmt: on


@dataclasses.dataclass(frozen=True)
class Admission:
    """Admission control: a request's deadline, and how much may wait."""

    # fmt: off
    request_timeout: float = var(
        "NSFW_REQUEST_TIMEOUT", 15.0, Number(float, low=0.5),
        "seconds one request may take in all: download, waiting, decode, inference (`504 deadline_exceeded`); "
        "below `NSFW_WORKER_TIMEOUT`")
    queue_depth: int = var(
        "NSFW_QUEUE_DEPTH", 32, Number(int, low=0),
        "images per worker that may wait for a decoder; past it `503 overloaded` at once")
    max_downloads: int = var(
        "NSFW_MAX_DOWNLOADS", 64, NUM,
        "downloads in progress per worker (batches included); past it `503 overloaded` at once")
    # fmt: on


@dataclasses.dataclass(frozen=True)
class Video:
    """Video (nsfw/imaging/video.py, the `video` extra): decoded in the same decoder processes."""

    # fmt: off
    max_video_bytes: int = var(
        "NSFW_MAX_VIDEO_BYTES", 32 * MiB, NUM,
        "largest video in bytes (32 MiB), downloaded or uploaded; which cap applies is decided by the body's "
        "first bytes, never its type (an upload is also held to `NSFW_MAX_REQUEST_BYTES`)")
    video_frames: int = var(
        "NSFW_VIDEO_FRAMES", 16, Number(int, low=1, high=256),
        "frames of a video classified, spread evenly over its duration")
    video_stop_at_adult: bool = var(
        "NSFW_VIDEO_STOP_AT_ADULT", False, Flag(),
        "`1`: stop at the first frame whose `porn + hentai + sexy` reaches `NSFW_ADULT_THRESHOLD`; nothing "
        "after it is decoded or classified")
    video_max_duration_s: float = var(
        "NSFW_VIDEO_MAX_DURATION_S", 600.0, Number(float, low=0.1),
        "longest video, in seconds, as declared and as any frame is stamped (`413 video_too_long`)")
    video_max_pixels: int = var(
        "NSFW_VIDEO_MAX_PIXELS", 3840 * 2160, NUM,
        "largest video frame in pixels (3840 x 2160), from the headers and again inside the decoder "
        "(`413 video_too_large`)")
    video_max_decoded_frames: int = var(
        "NSFW_VIDEO_MAX_DECODED_FRAMES", 3000, NUM,
        "most frames decoded to sample one video (`422 video_too_complex`)")
    video_cpu_s: float = var(
        "NSFW_VIDEO_CPU_S", 8.0, Number(float, low=0.05),
        "CPU seconds one video may cost to decode and preprocess, in place of `NSFW_DECODE_CPU_S`; past it the "
        "decoder is killed (`422 video_too_complex`)")
    # fmt: on
