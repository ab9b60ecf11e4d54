"""Builders and checks for the decoder's tests: hostile and awkward images made at run time.

Shared by tests/imaging/test_decode.py and test_decode_frames.py (nothing hostile is committed).
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from nsfw.errors import ServiceError
from nsfw.imaging.decode import DecodedImage, decode
from nsfw.settings import Settings

S = Settings()


# --- builders -----------------------------------------------------------------
def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def colour(i: int) -> tuple[int, int, int]:
    """A distinct colour for each frame index below 256."""
    return (i * 37) % 256, (i * 91) % 256, (i * 13) % 256


def animation(fmt: str, n: int, size=(64, 48), **kw) -> bytes:
    frames = [Image.new("RGB", size, colour(i)) for i in range(n)]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], **kw)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def raw_png(width, height, depth, colour_type, rows, extra=b"", idat=None) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    if idat is None:
        idat = zlib.compress(b"".join(b"\0" + row for row in rows))
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + extra + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


PALETTE = [(i, (i * 3) % 256, 255 - i) for i in range(256)]  # 256 distinct colours


def lzw(indices) -> bytes:
    """GIF LZW data (code size 8) that never grows past 9-bit codes."""
    codes = []
    for i, index in enumerate(indices):
        if i % 200 == 0:
            codes.append(256)  # clear
        codes.append(index)
    codes.append(257)  # end of information
    acc = bits = 0
    out = bytearray()
    for code in codes:
        acc |= code << bits
        bits += 9
        while bits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            bits -= 8
    if bits:
        out.append(acc)
    return bytes(out)


def sub_blocks(data: bytes) -> bytes:
    return b"".join(bytes([len(data[i : i + 255])]) + data[i : i + 255] for i in range(0, len(data), 255)) + b"\0"


def gif_frame(rect, index=None, pixels=None, disposal=1, transparency=None) -> bytes:
    x, y, w, h = rect
    pixels = pixels if pixels is not None else [index] * (w * h)
    flags = (disposal << 2) | (transparency is not None)
    gce = b"!\xf9\x04" + bytes([flags]) + struct.pack("<H", 10) + bytes([transparency or 0]) + b"\0"
    return gce + b"," + struct.pack("<4H", x, y, w, h) + b"\0" + b"\x08" + sub_blocks(lzw(pixels))


def raw_gif(screen, frames: list[bytes], trailer=b";") -> bytes:
    head = b"GIF89a" + struct.pack("<HH", *screen) + bytes([0xF7, 0, 0])
    palette = b"".join(bytes(c) for c in PALETTE)
    return head + palette + b"".join(frames) + trailer


def exif_block(entries, magic=b"II*\x00", ifd_offset=8) -> bytes:
    """b"Exif\\0\\0" + a little-endian TIFF IFD0 of (tag, type, count, 4-byte value)."""
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        ifd += struct.pack("<HHI", tag, kind, count) + value.ljust(4, b"\0")[:4]
    return b"Exif\x00\x00" + magic + struct.pack("<I", ifd_offset) + ifd + b"\0\0\0\0"


def short(value: int) -> bytes:
    return struct.pack("<H", value)


def check(result: DecodedImage, fmt=None, size=None, n_frames=None) -> None:
    """The invariants every DecodedImage keeps."""
    assert isinstance(result, DecodedImage)
    assert result.frames and result.frame_count >= len(result.frames)
    for frame in result.frames:
        assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
        assert frame.flags["C_CONTIGUOUS"] and not frame.flags["WRITEABLE"]
        assert frame.shape[:2] == (result.height, result.width)
    if fmt is not None:
        assert result.format == fmt
    if size is not None:
        assert (result.width, result.height) == size
    if n_frames is not None:
        assert len(result.frames) == n_frames


def expect(error, data, settings=S) -> ServiceError:
    with pytest.raises(error) as info:
        decode(data, settings)
    message = info.value.message
    assert message and "Traceback" not in message and "\n" not in message
    return info.value


def top_left(result: DecodedImage) -> list[tuple[int, int, int]]:
    return [tuple(int(v) for v in frame[0, 0]) for frame in result.frames]


def oriented(orientation: int, fmt="PNG") -> tuple[bytes, Image.Image]:
    rng = np.random.default_rng(orientation)
    im = Image.fromarray(rng.integers(0, 256, (4, 6, 3), dtype=np.uint8))  # 6 wide, 4 high
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(im, fmt, exif=exif.tobytes()), im


def mpo() -> bytes:
    return encode(
        Image.new("RGB", (40, 30), (255, 0, 0)),
        "MPO",
        save_all=True,
        append_images=[Image.new("RGB", (40, 30), (0, 0, 255))],
    )


def bomb_png(side: int) -> bytes:
    """A valid one-colour (bilevel) PNG of side x side pixels: a few KB."""
    row = b"\0" + b"\0" * ((side + 7) // 8)
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row * 100) for _ in range(side // 100)) + packer.flush()
    return raw_png(side, side, 1, 0, None, idat=idat)


def photo(size=(64, 48)) -> Image.Image:
    rng = np.random.default_rng(7)
    small = rng.integers(0, 256, (size[1] // 8, size[0] // 8, 3), dtype=np.uint8)
    return Image.fromarray(small).resize(size, Image.Resampling.BICUBIC)
