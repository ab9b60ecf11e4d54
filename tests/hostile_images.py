"""Images built to hurt a decoder, made at test time (nothing hostile is committed)."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from helpers import IMAGES
from PIL import Image


def _segments(jpeg: bytes):
    """(marker, bytes of the whole segment incl. entropy-coded data after an SOS)."""
    pos, out = 2, []
    while pos < len(jpeg):
        assert jpeg[pos] == 0xFF, pos
        marker = jpeg[pos + 1]
        if marker == 0xD9:  # EOI
            out.append((marker, jpeg[pos:]))
            break
        (length,) = struct.unpack(">H", jpeg[pos + 2 : pos + 4])
        end = pos + 2 + length
        if marker == 0xDA:  # SOS: entropy-coded data runs to the next marker that is not RST or stuffing
            while True:
                end = jpeg.index(b"\xff", end)
                if jpeg[end + 1] == 0 or 0xD0 <= jpeg[end + 1] <= 0xD7:
                    end += 2
                    continue
                break
        out.append((marker, jpeg[pos:end]))
        pos = end
    return out


def _is_luma_ac_refinement(sos: bytes) -> bool:
    count = sos[4]
    ss, _, ahal = sos[5 + 2 * count : 8 + 2 * count]
    return count == 1 and sos[5] == 1 and ss >= 1 and ahal >> 4 >= 1


def scan_bomb_jpeg(repeats: int, side: int = 1024) -> bytes:
    """A progressive JPEG whose last (tiny) refinement scan is repeated ``repeats`` times.

    Every repeat makes libjpeg walk every block of the image again, so the CPU cost grows
    with the file while the pixel count stays small.
    """
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (side // 16, side // 16, 3), dtype=np.uint8).repeat(16, 0).repeat(16, 1)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=90, progressive=True)
    segments = _segments(buf.getvalue())
    # the luminance AC refinement scans touch every coefficient of every block
    refinements = [seg for marker, seg in segments if marker == 0xDA and _is_luma_ac_refinement(seg)]
    smallest = min(refinements, key=len)
    head = b"".join(seg for marker, seg in segments if marker != 0xD9)
    return b"\xff\xd8" + head + smallest * repeats + b"\xff\xd9"


def lossless_webp_bomb(side: int = 7071) -> bytes:
    """A flat lossless WebP: a few KB on the wire, side x side x 4 bytes once decoded."""
    buf = io.BytesIO()
    Image.new("RGB", (side, side), (200, 30, 90)).save(buf, "WEBP", lossless=True, quality=100, method=0)
    return buf.getvalue()


# --- HEIF and AVIF (ISO-BMFF boxes) ----------------------------------------------------------
def heic(image: Image.Image, **kw) -> bytes:
    """``image`` as HEIC, made by pillow-heif (libheif + x265); kw: quality, chroma, tile_size, exif..."""
    import pillow_heif

    buf = io.BytesIO()
    pillow_heif.from_pillow(image).save(buf, **{"quality": 80, **kw})
    return buf.getvalue()


def avif(image: Image.Image, **kw) -> bytes:
    """``image`` as AVIF, made by Pillow's own plugin (libavif)."""
    buf = io.BytesIO()
    image.save(buf, "AVIF", **{"quality": 80, "speed": 10, **kw})
    return buf.getvalue()


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def find_boxes(data: bytes, kind: bytes, start: int = 0, end: int | None = None) -> list[int]:
    """Offsets of every ``kind`` box, looking inside meta, iprp and ipco."""
    end = len(data) if end is None else end
    found, pos = [], start
    while pos + 8 <= end:
        size, name = struct.unpack(">I4s", data[pos : pos + 8])
        if name == kind:
            found.append(pos)
        if name in (b"meta", b"iprp", b"ipco"):
            found += find_boxes(data, kind, pos + (12 if name == b"meta" else 8), pos + size)
        pos += size
    return found


def with_ispe(data: bytes, width: int, height: int) -> bytes:
    """Every ``ispe`` property rewritten to declare width x height (the pixel data stays as it was)."""
    out = bytearray(data)
    for pos in find_boxes(data, b"ispe"):
        struct.pack_into(">II", out, pos + 12, width, height)
    return bytes(out)


def heic_grid(width: int = 256, height: int = 192, tile: int = 64) -> bytes:
    """A real HEIC grid of tiles, as phones write them."""
    ramp = np.linspace(0, 255, width, dtype=np.uint8)
    pixels = np.stack([np.tile(ramp, (height, 1))] * 3, axis=2)
    return heic(Image.fromarray(pixels), tile_size=tile)


def with_grid_size(data: bytes, width: int, height: int) -> bytes:
    """A HEIC grid whose grid descriptor (in idat) declares a width x height canvas; ispe untouched."""
    (idat,) = find_boxes(data, b"idat")
    out = bytearray(data)
    flags = out[idat + 9]
    assert not flags & 1, "32-bit grid fields"
    struct.pack_into(">HH", out, idat + 12, width, height)
    return bytes(out)


def with_brands(data: bytes, major: bytes, compatible: tuple[bytes, ...] | None = None) -> bytes:
    """The same file under other ``ftyp`` brands; ``compatible`` replaces as many brands as the box holds
    (the box keeps its size, so every offset in the file stays right)."""
    size = struct.unpack(">I", data[:4])[0]
    slots = (size - 16) // 4
    old = [data[i : i + 4] for i in range(16, size, 4)]
    brands = list(compatible if compatible is not None else old)[:slots]
    brands += [b"free"] * (slots - len(brands))  # an unknown brand: readers ignore it
    return data[:8] + major + data[12:16] + b"".join(brands) + data[size:]


def with_free_boxes(data: bytes, count: int) -> bytes:
    """``count`` empty ``free`` boxes between ftyp and meta: 8 bytes each, one parser loop each."""
    size = struct.unpack(">I", data[:4])[0]
    return data[:size] + box(b"free", b"") * count + data[size:]


def with_items(data: bytes, count: int) -> bytes:
    """An ``iinf`` listing ``count`` extra items (Exif-typed, no data): thousands of items in a small file."""
    (iinf,) = find_boxes(data, b"iinf")
    size, version = struct.unpack(">I", data[iinf : iinf + 4])[0], data[iinf + 8]
    old = data[iinf + 12 + (2 if version == 0 else 4) : iinf + size]
    extra = b"".join(box(b"infe", b"\x02\0\0\0" + struct.pack(">HH", 1000 + i, 0) + b"Exif\0") for i in range(count))
    existing = old.count(b"infe")
    payload = b"\x01\0\0\0" + struct.pack(">I", existing + count) + old + extra
    new = box(b"iinf", payload)
    # grow the meta box around it (offsets into mdat move: the file only has to be parsed, not decoded)
    (meta,) = find_boxes(data, b"meta")
    meta_size = struct.unpack(">I", data[meta : meta + 4])[0] + len(new) - size
    out = data[:iinf] + new + data[iinf + size :]
    return out[:meta] + struct.pack(">I", meta_size) + out[meta + 4 :]


def png_bomb(side: int) -> bytes:
    """A valid single-colour PNG of side x side pixels that compresses to a few KB."""
    packer = zlib.compressobj(9)
    row = b"\x00" * (side + 1)  # filter byte + one grey byte per pixel
    raw = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


# Uploads that must each get their documented 4xx, from the app and from real gunicorn alike.
HOSTILE = {
    "decompression bomb": (png_bomb(8_000), 413, "image_too_large"),
    "truncated jpeg": ((IMAGES / "astronaut_640x480.jpg").read_bytes()[:5000], 422, "corrupt_image"),
    "html": (b"<!doctype html><title>x</title>", 415, "unsupported_media"),
    "bmp": (b"BM" + b"\x00" * 60, 415, "unsupported_media"),
    "random bytes": (bytes(np.random.default_rng(3).integers(0, 256, 4096, dtype=np.uint8)), 415, "unsupported_media"),
    "png magic then garbage": (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, 422, "corrupt_image"),
}
