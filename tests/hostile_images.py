"""Images built to hurt a decoder, made at test time (nothing hostile is committed)."""

from __future__ import annotations

import io
import struct

import numpy as np
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
