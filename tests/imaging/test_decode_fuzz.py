"""Fuzz nsfw.imaging.decode: whatever the bytes, only the three typed errors may escape.

Random bytes, random bytes behind each accepted signature, and small valid
JPEG/PNG/APNG/GIF/WebP/MPO/HEIC/AVIF files (with EXIF) mutated by byte flips, inserts,
deletions and truncation. Every success must keep DecodedImage's invariants.
Bounded: a few hundred examples per test, a per-example deadline.
"""

from __future__ import annotations

import io
import os
import warnings
from datetime import timedelta

import numpy as np
from hostile_images import avif, heic
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from nsfw.errors import CorruptImage, ImageTooLarge, UnsupportedMedia
from nsfw.imaging.decode import DecodedImage, decode
from nsfw.settings import Settings

# small caps keep every example cheap even when a header claims a large image
LIMITS = Settings().replace(max_pixels=1_000_000, max_frames=4)
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", 300)),  # raise it for a longer hunt
    deadline=timedelta(seconds=2),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SIGNATURES = [
    b"\xff\xd8\xff",
    b"\x89PNG\r\n\x1a\n",
    b"GIF89a",
    b"GIF87a",
    b"RIFF\0\0\0\0WEBP",
    b"RIFF\0\0\0\0WEBPVP8X",
    b"RIFF\0\0\0\0WEBPVP8L",
    b"RIFF\0\0\0\0WEBPVP8 ",
    b"\0\0\0\x18ftypheic\0\0\0\0mif1heic",
    b"\0\0\0\x18ftypavif\0\0\0\0avifmif1",
    b"\0\0\0\x18ftypmif1\0\0\0\0mif1miaf",
]


def _save(im, fmt, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _seeds() -> list[bytes]:
    rng = np.random.default_rng(5)
    photo = Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "fuzz"
    exif = exif.tobytes()
    frames = [Image.new("RGBA", (10, 8), (i * 40, 255 - i * 40, 9, 255 if i else 0)) for i in range(5)]
    palette = photo.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    palette.info["transparency"] = 3
    return [
        _save(photo, "JPEG", quality=80, exif=exif),
        _save(photo, "JPEG", progressive=True),
        _save(photo.convert("CMYK"), "JPEG"),
        _save(photo, "MPO", save_all=True, append_images=[photo.rotate(90)]),
        _save(photo, "PNG", exif=exif),
        _save(palette, "PNG"),
        _save(photo.convert("LA"), "PNG"),
        _save(Image.fromarray(rng.integers(0, 65536, (6, 5), dtype=np.uint16)), "PNG"),
        _save(frames[0], "PNG", save_all=True, append_images=frames[1:], disposal=[0, 1, 2, 0, 1]),
        _save(palette, "GIF"),
        _save(frames[0], "GIF", save_all=True, append_images=frames[1:], disposal=2),
        _save(photo, "WEBP", quality=70, exif=exif),
        _save(frames[0], "WEBP", lossless=True),
        _save(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True),
        heic(photo, quality=60, exif=exif),
        heic(frames[1].resize((64, 48)), quality=60, tile_size=32),  # a grid of tiles, with alpha
        avif(photo, quality=60, exif=exif),
        avif(frames[0], save_all=True, append_images=frames[1:], quality=60),
    ]


SEEDS = _seeds()


def _decode_checked(data: bytes) -> None:
    with warnings.catch_warnings():  # test-only: Pillow warns about much of this input
        warnings.simplefilter("ignore")
        try:
            result = decode(data, LIMITS)
        except (CorruptImage, UnsupportedMedia, ImageTooLarge) as error:
            assert error.message and "\n" not in error.message
            return
    assert isinstance(result, DecodedImage)
    assert result.format in ("JPEG", "PNG", "GIF", "WEBP", "HEIF", "AVIF")
    assert 1 <= len(result.frames) <= LIMITS.max_frames
    assert result.width * result.height <= LIMITS.max_pixels
    for frame in result.frames:
        assert frame.dtype == np.uint8 and frame.shape == (result.height, result.width, 3)
        assert frame.flags["C_CONTIGUOUS"]


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes(data):
    _decode_checked(data)


@FUZZ
@given(st.sampled_from(SIGNATURES), st.binary(max_size=1024))
def test_random_bytes_behind_a_signature(signature, tail):
    _decode_checked(signature + tail)


@st.composite
def mutated(draw):
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "set", "insert", "delete"]))
        if action == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "set":
            data[at] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80, draw(st.integers(0, 255))]))
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:
            del data[at : at + draw(st.integers(1, 16))]
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


@FUZZ
@given(mutated())
def test_mutated_valid_images(data):
    _decode_checked(data)


@settings(max_examples=len(SEEDS), deadline=timedelta(seconds=2))
@given(st.sampled_from(SEEDS))
def test_seeds_decode(data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert isinstance(decode(data, LIMITS), DecodedImage)
