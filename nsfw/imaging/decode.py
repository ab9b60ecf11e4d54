"""Decode untrusted image bytes into RGB frames for the model.

Rules (the body comes from strangers, so every one of them is enforced):

* Formats: JPEG, PNG (incl. APNG), GIF, WebP, HEIF (HEIC) and AVIF only, named
  by the magic bytes (for HEIF and AVIF: the ``ftyp`` brands, see
  headers.sniff_format); never by a Content-Type or file name. Anything else
  is ``UnsupportedMedia``. Pillow opens only the sniffed format
  (``Image.open(fp, formats=[...])``), so its other 40-odd decoders (EPS via
  Ghostscript among them) are unreachable. HEIF is opened by pillow-heif's
  image class directly, never registered with Pillow, so no other
  ``Image.open`` in the process starts accepting HEIF because of this module;
  AVIF is Pillow's own plugin (libavif). An MPO (multi-picture camera JPEG)
  is a JPEG: only its primary picture is used, and it reports ``"JPEG"``;
  likewise a HEIF file holding several images gives its primary image only.
* Pixel cap: width x height above ``settings.max_pixels`` (and never above
  Pillow's ``Image.MAX_IMAGE_PIXELS``, so its DecompressionBombWarning cannot
  fire for an image we accept) is ``ImageTooLarge``, checked from headers
  before any pixel data is decoded; a DecompressionBombError is mapped to it.
  For a GIF the size checked is the canvas Pillow composites on: the logical
  screen grown to cover every counted frame's rectangle (it enlarges it for
  frames that reach outside); output frames keep the first frame's canvas,
  later frames are cropped to it. For HEIF and AVIF it is the largest size
  the file declares anywhere: any ``ispe`` property, any grid of tiles' or
  overlay's output canvas (heif_headers.heif_declared_size), before libheif or
  libavif parses the file.
* Animation (GIF, APNG, animated WebP, animated AVIF): frames are counted up to
  ``FRAME_CEILING``. Reaching frame k means compositing (or, for AVIF,
  decoding from the last key frame) every frame before it, so only a window of
  the first ``min(count, max(1, FRAME_PIXEL_BUDGET // canvas_pixels))`` frames
  is ever decoded. Up to ``settings.max_frames`` frames are picked evenly over
  that window: frame ``i * window // n`` for ``i < n``; the first frame is
  always one of them. Each is composited as displayed (disposal and blending
  applied by Pillow). An APNG whose header announces more frames than it holds
  is corrupt. A GIF's frames are counted by walking its blocks (see
  decode_headers); a stray byte where a block should start ends the
  animation, as in browsers.
* Parsing work: Pillow walks JPEG header segments, PNG chunks and GIF blocks
  in Python, one loop per item, so more than ``BLOCK_LIMIT`` of them (no real
  image comes close) is ``CorruptImage`` for JPEG and PNG, and ends the
  frame count for GIF; the same limit holds for the boxes, items and extents
  of a HEIF or AVIF file. For these scans the body (at most ``max_bytes``) is
  read into memory once, before Pillow starts.
* Transparency: every image with alpha (palette and colour-key transparency
  included) is composited onto BLACK, which is what a browser canvas hands
  nsfwjs for fully transparent pixels; so the colour hidden under transparent
  pixels never reaches the model.
* Modes: everything becomes RGB uint8. 16-bit samples keep their high byte
  (v >> 8) instead of being clipped at 255; 10- and 12-bit HEIF samples keep
  their high 8 bits likewise (libheif shifts them); libavif scales 10- and
  12-bit AVIF to 8 bits with rounding (Pillow's plugin offers no other
  output), at most one level from the shift. CMYK JPEGs are read as Adobe
  (inverted) CMYK, as Pillow and browsers assume.
* EXIF orientation (tag 0x0112 of the first frame) is applied to every frame,
  as browsers do. Unreadable EXIF or an out-of-range value is ignored. HEIF and
  AVIF carry their orientation in the container (``irot``/``imir``), which
  wins over EXIF, as the HEIF specification and browsers have it: libheif
  rotates the pixels and pillow-heif resets the EXIF tag to 1; Pillow's AVIF
  plugin writes the container's orientation into the EXIF tag, applied here.
  Either way it is applied once.
* Truncated or corrupt data, and any unexpected exception from Pillow, is
  ``CorruptImage``; ``ImageFile.LOAD_TRUNCATED_IMAGES`` is never set.
* No global state is changed per call; the image is closed on every path.
  (The HEIF and AVIF libraries are imported on first use, with one decoding
  thread each: a decoder process is held to one core's CPU budget.)
* Fast mode (``min_side``, from NSFW_FAST_DECODE): a JPEG is decoded at the
  smallest DCT scale (1/2, 1/4, 1/8) that keeps both sides at least
  ``min_side`` pixels (the decoder asks for twice the model's input), which
  the model's resize then samples. Scores then
  differ slightly from nsfwjs's (docs/performance.md); other formats have no
  reduced decode (libpng, giflib, libwebp through Pillow, libavif: none;
  HEIF thumbnails are separately encoded pictures, which a hostile file could
  make innocent, so they are never used). Reported sizes stay the file's own.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable
from typing import BinaryIO

import numpy as np

# (registering these four up front means Image.open never needs Pillow's
# init(), which would import every other plugin)
from PIL import GifImagePlugin, Image, JpegImagePlugin, PngImagePlugin, WebPImagePlugin  # noqa: F401

from nsfw.errors import CorruptImage, ImageTooLarge, ServiceError, UnsupportedMedia
from nsfw.imaging import pixels, plugins
from nsfw.imaging.headers import (
    HEAD_BYTES,
    GifLayout,
    jpeg_header_steps,
    pixel_cap,
    png_chunk_count,
    scan_gif,
    sniff_format,
    webp_canvas_size,
)
from nsfw.imaging.heif_headers import heif_declared_size
from nsfw.settings import Settings

FRAME_CEILING = 1_000  # frames counted at most
FRAME_PIXEL_BUDGET = 50_000_000  # canvas pixels composited while walking an animation
BLOCK_LIMIT = 100_000  # JPEG header segments, PNG chunks, GIF blocks parsed in Python

# What decoding a pixel may cost against JPEG, for the CPU budget the decoder sets from on_header
# (100 ns a pixel: five times the costliest JPEG, PNG or WebP measured). Decoding, with one thread,
# 12 MP: JPEG 9-14 ns a pixel; AV1 29-34; HEVC 38 for a 3.3 MB file and 89 for a grainy 7 MB one
# (libde265's cost follows the bitrate). Weighted, the budget stays about five times the worst.
_PIXEL_WEIGHT = {"HEIF": 5, "AVIF": 2}


@dataclasses.dataclass(frozen=True)
class DecodedImage:
    format: str  # "JPEG", "PNG", "GIF", "WEBP", "HEIF" or "AVIF"
    width: int  # after EXIF orientation
    height: int
    frames: tuple[np.ndarray, ...]  # read-only numpy uint8 HxWx3 RGB arrays, C-contiguous; first first
    frame_count: int  # frames in the file, counted up to FRAME_CEILING


def decode(
    source: BinaryIO | bytes,
    settings: Settings,
    on_header: Callable[[int], None] | None = None,
    min_side: int | None = None,
) -> DecodedImage:
    """Decode an image body (read from its start) under the rules above.

    ``on_header(pixels)`` is called once the headers are checked and before any pixel is
    decoded, with the number of canvas pixels the decode will produce (frames walked
    included; a HEIF or AVIF pixel counts as ``_PIXEL_WEIGHT`` JPEG pixels): the decoder
    process sets the image's CPU budget from it. ``min_side`` turns on fast mode (above).
    """
    fp, data = _body(source)
    fmt = sniff_format(data[:HEAD_BYTES])
    if fmt is None:
        raise UnsupportedMedia()
    cap = pixel_cap(settings)
    if Image.MAX_IMAGE_PIXELS is not None:
        cap = min(cap, Image.MAX_IMAGE_PIXELS)
    try:
        gif = _prescan(data, fmt, cap)
        # a 16-bit PNG's colour key is in 16-bit units; Pillow hands us 8-bit RGB
        key_shift = 8 if fmt == "PNG" and data[24:25] == b"\x10" else 0
        del data  # the scans are done; Pillow reads the stream
        return _decode(fp, fmt, gif, cap, settings.max_frames, key_shift, on_header, min_side)
    except ServiceError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge() from exc
    except MemoryError as exc:  # over the decoder's memory budget (RLIMIT_DATA): not a corrupt file
        raise ImageTooLarge("decoding the image needs more memory than this service allows") from exc
    except Exception as exc:  # Pillow raises many kinds for bad data; all mean the same
        if fmt == "HEIF":
            plugins.raise_libheif_limit(exc)
        raise CorruptImage(f"the {fmt} image is truncated or corrupt") from exc


def _body(source: BinaryIO | bytes) -> tuple[BinaryIO, bytes]:
    """A seekable stream for Pillow and the whole body (at most max_bytes) for the scans."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        return io.BytesIO(data), data
    try:
        source.seek(0)
    except (AttributeError, OSError, ValueError):
        data = source.read()
        return io.BytesIO(data), data
    return source, source.read()


def _prescan(data: bytes, fmt: str, cap: int) -> GifLayout | None:
    """Header checks that must happen before Pillow allocates or loops."""
    if fmt == "WEBP" and (size := webp_canvas_size(data[:HEAD_BYTES])):
        _check_pixels(*size, cap)
    elif fmt == "JPEG" and jpeg_header_steps(data, BLOCK_LIMIT) >= BLOCK_LIMIT:
        raise CorruptImage("the JPEG has too many header segments")
    elif fmt == "PNG" and png_chunk_count(data, BLOCK_LIMIT) >= BLOCK_LIMIT:
        raise CorruptImage("the PNG has too many chunks")
    elif fmt in ("HEIF", "AVIF"):
        try:
            size = heif_declared_size(data, BLOCK_LIMIT)
        except ValueError as exc:
            raise CorruptImage(f"the {fmt} file is malformed: {exc}") from None
        if size is None:
            raise CorruptImage(f"the {fmt} file declares no image")
        if size[0] * size[1] > cap:  # (a coded size, e.g. rounded up to whole HEVC blocks, counts)
            raise ImageTooLarge(
                f"the {fmt} file declares a {size[0]}x{size[1]} picture; this service accepts at most {cap} pixels"
            )
    elif fmt == "GIF":
        gif = scan_gif(data, FRAME_CEILING, BLOCK_LIMIT)
        if gif.frames == 0:
            raise CorruptImage("the GIF holds no image")
        _check_pixels(gif.width, gif.height, cap)
        return gif
    return None


def _decode(
    fp: BinaryIO,
    fmt: str,
    gif: GifLayout | None,
    cap: int,
    max_frames: int,
    key_shift: int,
    on_header: Callable[[int], None] | None = None,
    min_side: int | None = None,
) -> DecodedImage:
    im = plugins.open_image(fp, fmt)
    try:
        width, height = im.size
        if width < 1 or height < 1:
            raise CorruptImage("the image has no pixels")
        _check_pixels(width, height, cap)

        count, canvas, picks = _frames_to_decode(im, fmt, gif, max_frames)
        if on_header is not None:
            on_header(canvas * (picks[-1] + 1) * _PIXEL_WEIGHT.get(fmt, 1))
        full = width, height
        if min_side and fmt == "JPEG":
            im.draft(None, (min_side, min_side))  # DCT scaling: both sides stay >= min_side
            width, height = im.size

        frames = []
        orientation = 1
        for index in picks:
            if index:
                im.seek(index)
            im.load()
            if index == 0:
                orientation = pixels.orientation(im)
            rgb = pixels.to_rgb(im, key_shift)
            if rgb.shape[:2] != (height, width):  # a GIF canvas grown by a later frame
                rgb = rgb[:height, :width]
            rgb = pixels.orient(rgb, orientation)
            rgb.flags.writeable = False
            frames.append(rgb)
    finally:
        # Release the pixels now, not when a traceback lets go of this frame.
        # (ImageFile.close would also close the caller's stream, which is not ours.)
        Image.Image.close(im)

    # the file's own size, upright (fast mode decodes fewer pixels)
    width, height = full[::-1] if orientation in (5, 6, 7, 8) else full
    return DecodedImage(
        format=fmt,
        width=width,
        height=height,
        frames=tuple(frames),
        frame_count=count,
    )


def _frames_to_decode(im: Image.Image, fmt: str, gif: GifLayout | None, max_frames: int) -> tuple[int, int, list[int]]:
    """The file's frame count (up to FRAME_CEILING), its canvas pixels, and the frames decoded."""
    width, height = im.size
    if gif is not None:
        count, canvas = gif.frames, gif.width * gif.height
    elif fmt in ("JPEG", "HEIF"):  # an MPO's other pictures, a HEIF's other images are not displayed
        count, canvas = 1, width * height
    else:
        count, canvas = getattr(im, "n_frames", 1), width * height
    count = min(count, FRAME_CEILING)
    window = min(count, max(1, FRAME_PIXEL_BUDGET // canvas))
    return count, canvas, _spread(window, max_frames)


def _check_pixels(width: int, height: int, cap: int) -> None:
    if width * height > cap:
        raise ImageTooLarge(f"the image is {width}x{height} pixels; this service accepts at most {cap} pixels")


def _spread(window: int, wanted: int) -> list[int]:
    """``wanted`` frame indices spread evenly over ``range(window)``, 0 first."""
    n = max(1, min(window, wanted))
    return [i * window // n for i in range(n)]
