"""Hostile image bodies for bench/hostile.py, built in memory (nothing is downloaded or committed).

Each one is a valid image that stays within the service's documented limits
(at most 50,000,000 pixels, at most 10 MiB) and is still expensive:

* ``scan_bomb_jpeg``: a progressive JPEG whose last AC refinement scan is
  repeated ``copies`` times before EOI. libjpeg only warns about the bogus
  progression and decodes every copy over every block, so the decode CPU grows
  linearly with ``copies`` while each copy adds 33 bytes.
* ``webp_bomb``: a flat-colour lossless WebP of 7071x7071 (about 2 KB) that
  inflates to 50 MP of RGBA inside libwebp.
* ``big_jpeg`` / ``big_png``: an ordinary 7071x7071 gradient.
* ``png16_interlaced``: a 16-bit RGB Adam7-interlaced PNG of 7071x7071, written
  by hand because Pillow cannot save interlaced PNGs.
* ``heif_grid_bomb``: a 256x192 HEIC grid of tiles (about 2 KB) whose grid
  descriptor declares a 60000x50000 canvas (refused from the header: cheap).
* ``big_avif``: a 6300x6300 gradient AVIF (39.7 MP), just under what a default
  decoder's memory holds for AVIF: a full, legitimate AV1 decode.

And legitimate large images for bench/sizes.py (issue 10, "Large photos"), the same
bytes on every run (seeded):

* ``photo_jpeg(width, height)``: a photo-like picture (smooth shapes, fine grain) as a
  quality-90 JPEG; ``photo_12mp_jpeg()`` is the 4000x3000 of a 12 MP phone camera.
* ``screenshot_png()``: a 1920x1080 screenshot-like PNG (flat panels, lines of "text",
  two pictures), which compresses as screenshots do.
* ``photo_heic`` / ``photo_avif``: the same photo as HEIC (pillow-heif) and AVIF (Pillow).
"""

from __future__ import annotations

import io
import struct
import sys
import time
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

BIG_SIDE = 7071  # 7071^2 = 49,999,041 pixels: just under the default NSFW_MAX_PIXELS

_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def jpeg_segments(data: bytes) -> list[tuple[int, int, int]]:
    """(marker, start, end) of every segment after SOI; an SOS segment runs to the end of its entropy-coded data."""
    pos, found = 2, []
    while pos + 1 < len(data):
        if data[pos] != 0xFF:
            raise ValueError(f"no marker at offset {pos}")
        marker = data[pos + 1]
        if marker == 0xD9:
            found.append((marker, pos, pos + 2))
            break
        end = pos + 2 + struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        if marker == 0xDA:
            while True:  # entropy-coded data ends at the first marker that is not a stuffed 0 or a restart
                end = data.index(b"\xff", end)
                if data[end + 1] == 0x00 or 0xD0 <= data[end + 1] <= 0xD7:
                    end += 2
                    continue
                break
        found.append((marker, pos, end))
        pos = end
    return found


def _refinement_scan(data: bytes, segments) -> tuple[int, int]:
    """Start and end of the last AC refinement scan (Ss > 0, Ah > 0)."""
    for marker, start, end in reversed(segments):
        if marker != 0xDA:
            continue
        count = data[start + 4]
        ss = data[start + 5 + 2 * count]
        ah = data[start + 7 + 2 * count] >> 4
        if ss > 0 and ah > 0:
            return start, end
    raise ValueError("the JPEG has no AC refinement scan")


def scan_bomb_jpeg(copies: int, side: int = 4096) -> bytes:
    image = Image.new("RGB", (side, side), (120, 130, 140))
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=90, progressive=True)
    data = buf.getvalue()
    segments = jpeg_segments(data)
    start, end = _refinement_scan(data, segments)
    eoi = segments[-1][1]
    return data[:eoi] + data[start:end] * copies + data[eoi:]


def scan_bomb_cost(copies: int = 40, side: int = 4096) -> float:
    """Seconds of decode per repeated scan, measured here with ``Image.open().load()`` on a small bomb."""
    base, bomb = scan_bomb_jpeg(0, side), scan_bomb_jpeg(copies, side)
    timings = []
    for body in (base, bomb):
        started = time.perf_counter()
        with Image.open(io.BytesIO(body)) as image:
            image.load()
        timings.append(time.perf_counter() - started)
    return max(0.0, timings[1] - timings[0]) / copies


def webp_bomb(side: int = BIG_SIDE) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (side, side), (200, 40, 90)).save(buf, "WEBP", lossless=True, quality=100, method=1)
    return buf.getvalue()


def heif_grid_bomb(width: int = 60000, height: int = 50000) -> bytes:
    import pillow_heif

    ramp = np.tile(np.linspace(0, 255, 256, dtype=np.uint8), (192, 1))
    buf = io.BytesIO()
    pillow_heif.from_pillow(Image.fromarray(np.stack([ramp] * 3, axis=2))).save(buf, quality=50, tile_size=64)
    data = bytearray(buf.getvalue())
    idat = data.index(b"idat") - 4  # the grid descriptor: version, flags, rows, columns, width, height
    struct.pack_into(">HH", data, idat + 12, width, height)
    return bytes(data)


def big_avif(side: int = 6300) -> bytes:
    buf = io.BytesIO()
    _gradient(side).save(buf, "AVIF", quality=50, speed=10)
    return buf.getvalue()


def declared_size(data: bytes) -> tuple[int, int]:
    """Width and height as the file's headers declare them (what the service checks first)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from nsfw.imaging.headers import image_size

    return image_size(data) or (0, 0)


def _gradient(side: int) -> Image.Image:
    ramp = np.linspace(0, 255, side, dtype=np.float32)
    pixels = np.empty((side, side, 3), np.uint8)
    pixels[..., 0] = ramp[None, :]
    pixels[..., 1] = ramp[:, None]
    pixels[..., 2] = 128
    return Image.fromarray(pixels)


def big_jpeg(side: int = BIG_SIDE) -> bytes:
    buf = io.BytesIO()
    _gradient(side).save(buf, "JPEG", quality=85)
    return buf.getvalue()


def big_png(side: int = BIG_SIDE) -> bytes:
    buf = io.BytesIO()
    _gradient(side).save(buf, "PNG", compress_level=6)
    return buf.getvalue()


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def png16_interlaced(side: int = BIG_SIDE) -> bytes:
    """A horizontal 16-bit gradient; in each Adam7 pass every row after the first is filter Up (all zeros)."""
    x = np.arange(side, dtype=np.uint32)
    row = np.empty((side, 3), ">u2")
    row[:, 0] = x * 65535 // max(1, side - 1)
    row[:, 1] = 65535 - row[:, 0]
    row[:, 2] = 32768
    deflate = zlib.compressobj(9)
    idat = []
    for x0, y0, dx, dy in _ADAM7:
        width, height = (side - x0 + dx - 1) // dx, (side - y0 + dy - 1) // dy
        if width == 0 or height == 0:
            continue
        idat.append(deflate.compress(b"\x00" + row[x0::dx].tobytes()))
        up = b"\x02" + bytes(width * 6)
        rest = height - 1
        block = up * 64
        for _ in range(rest // 64):
            idat.append(deflate.compress(block))
        idat.append(deflate.compress(up * (rest % 64)))
    idat.append(deflate.flush())
    header = struct.pack(">IIBBBBB", side, side, 16, 2, 0, 0, 1)  # 16-bit RGB, Adam7
    chunks = _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", b"".join(idat)) + _png_chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def fresh_jpeg(base: np.ndarray, seed: int) -> bytes:
    """A photo with a little seeded noise: different bytes every time (the service caches by content)."""
    rng = np.random.default_rng(seed)
    noisy = np.clip(base.astype(np.int16) + rng.integers(-4, 5, size=base.shape, dtype=np.int16), 0, 255)
    buf = io.BytesIO()
    Image.fromarray(noisy.astype(np.uint8)).save(buf, "JPEG", quality=85)
    return buf.getvalue()


# --- large legitimate images (bench/sizes.py) ---------------------------------------------------
def photo(width: int, height: int, seed: int = 10) -> Image.Image:
    """Smooth colour fields with fine grain: compresses and decodes like a camera photo."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (max(2, height // 250), max(2, width // 250), 3), dtype=np.uint8)
    base = np.asarray(Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC), dtype=np.int16)
    grain = rng.integers(-6, 7, (height, width, 1), dtype=np.int16)
    return Image.fromarray(np.clip(base + grain, 0, 255).astype(np.uint8))


def photo_jpeg(width: int, height: int, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    photo(width, height).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def photo_12mp_jpeg() -> bytes:
    return photo_jpeg(4000, 3000)


def photo_heic(width: int, height: int) -> bytes:
    import pillow_heif

    buf = io.BytesIO()
    pillow_heif.from_pillow(photo(width, height)).save(buf, quality=80)
    return buf.getvalue()


def photo_avif(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    photo(width, height).save(buf, "AVIF", quality=70, speed=8)
    return buf.getvalue()


def screenshot_png(width: int = 1920, height: int = 1080, seed: int = 11) -> bytes:
    """A desktop screenshot: flat panels, rows of dark "words", two photos in the page."""
    rng = np.random.default_rng(seed)
    pixels = np.full((height, width, 3), 246, np.uint8)
    pixels[:56] = (38, 50, 72)  # title bar
    pixels[56:, : width // 6] = (228, 232, 238)  # side panel
    for y in range(90, height - 40, 22):  # lines of text: runs of dark words
        x = width // 6 + 40
        while x < width - 420:
            word = int(rng.integers(18, 90))
            pixels[y : y + 11, x : x + word] = 40 + int(rng.integers(0, 30))
            x += word + int(rng.integers(6, 14))
    for top, left in ((120, width - 380), (560, width - 380)):
        pixels[top : top + 300, left : left + 340] = np.asarray(photo(340, 300, seed=top))
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG", compress_level=6)
    return buf.getvalue()
