"""nsfw.imaging.decode, which picture of a file is classified: EXIF orientation, animation, MPO.

The rest of the decoder's corpus (formats, the pixel cap, parsing work, truncation, modes,
hygiene) is in test_decode.py; the builders are in tests/decode_helpers.py.
"""

from __future__ import annotations

import io
import struct
import time
import zlib

import numpy as np
import pytest
from decode_helpers import (
    PALETTE,
    S,
    animation,
    check,
    colour,
    encode,
    exif_block,
    expect,
    gif_frame,
    mpo,
    oriented,
    raw_gif,
    short,
    top_left,
)
from PIL import Image, ImageOps

from nsfw.errors import CorruptImage
from nsfw.imaging.decode import FRAME_CEILING, FRAME_PIXEL_BUDGET, decode

# --- EXIF orientation --------------------------------------------------------------


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_matches_exif_transpose(orientation):
    data, _ = oriented(orientation)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    result = decode(data, S)
    check(result, "PNG")
    assert np.array_equal(result.frames[0], expected)
    assert (result.width, result.height) == ((4, 6) if orientation >= 5 else (6, 4))


def jpeg_quadrants(exif: bytes | None) -> bytes:
    im = Image.new("RGB", (64, 32), (255, 0, 0))  # left red
    im.paste((0, 0, 255), (32, 0, 64, 32))  # right blue
    return encode(im, "JPEG", quality=95, **({"exif": exif} if exif is not None else {}))


def near(pixel, colour) -> bool:
    return np.abs(pixel.astype(int) - colour).max() <= 16


@pytest.mark.parametrize(
    "orientation, top, bottom",
    [
        (6, (255, 0, 0), (0, 0, 255)),  # rotate 90 clockwise: left edge comes to the top
        (8, (0, 0, 255), (255, 0, 0)),  # rotate 90 counter-clockwise
    ],
)
def test_jpeg_orientation_6_and_8(orientation, top, bottom):
    result = decode(jpeg_quadrants(exif_block([(0x0112, 3, 1, short(orientation))])), S)
    check(result, "JPEG", (32, 64))
    assert near(result.frames[0][5, 16], top) and near(result.frames[0][58, 16], bottom)


BAD_EXIF = {
    "orientation as ascii": exif_block([(0x0112, 2, 2, b"6\0")]),
    "orientation 9": exif_block([(0x0112, 3, 1, short(9))]),
    "orientation 0": exif_block([(0x0112, 3, 1, short(0))]),
    "orientation 65535": exif_block([(0x0112, 3, 1, short(65535))]),
    "orientation rational": exif_block([(0x0112, 5, 1, struct.pack("<I", 8))]),
    "orientation far offset": exif_block([(0x0112, 3, 4000, struct.pack("<I", 0xFFFFFF00))]),
    "unknown type": exif_block([(0x0112, 99, 1, short(6))]),
    "entry count lies": b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff" + b"\x12\x01\x03\x00" * 3,
    "ifd offset past end": exif_block([(0x0112, 3, 1, short(6))], ifd_offset=0xFFFFFFF0),
    "bad tiff magic": exif_block([(0x0112, 3, 1, short(6))], magic=b"XX*\x00"),
    "exif header only": b"Exif\x00\x00",
    "random bytes": b"Exif\x00\x00" + bytes(np.random.default_rng(3).integers(0, 256, 300, dtype=np.uint8)),
    "ifd loop": b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x01\x00"
    + struct.pack("<HHII", 0x8769, 4, 1, 8)
    + struct.pack("<I", 8),
}


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow says what it skipped
@pytest.mark.parametrize("name", sorted(BAD_EXIF))
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_malformed_exif_never_fails(name, fmt):
    im = Image.new("RGB", (64, 32), (255, 0, 0))
    result = decode(encode(im, fmt, exif=BAD_EXIF[name]), S)
    check(result, fmt, (64, 32))  # not rotated: the orientation is unusable


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_orientation_with_extra_values_uses_the_first():
    # Pillow reads the first of two values (with a warning); so do we
    exif = exif_block([(0x0112, 3, 2, short(6) + short(6))])
    check(decode(jpeg_quadrants(exif), S), "JPEG", (32, 64))


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_zero_denominator_rationals_do_not_block_orientation():
    exif = (
        exif_block(
            [
                (0x011A, 5, 1, struct.pack("<I", 50)),  # XResolution: 0/0, right after the IFD
                (0x0112, 3, 1, short(6)),
                (0x011B, 5, 1, struct.pack("<I", 58)),  # YResolution: 0/0
            ]
        )
        + b"\0" * 16
    )
    result = decode(jpeg_quadrants(exif), S)
    check(result, "JPEG", (32, 64))


def test_exif_read_failure_falls_back_to_unrotated(monkeypatch):
    def broken(self):
        raise ZeroDivisionError("bad rational")

    monkeypatch.setattr(Image.Image, "getexif", broken)
    result = decode(jpeg_quadrants(exif_block([(0x0112, 3, 1, short(6))])), S)
    check(result, "JPEG", (64, 32))


# --- animation ----------------------------------------------------------------------
@pytest.mark.parametrize("fmt, kw", [("GIF", {}), ("WEBP", {"lossless": True}), ("PNG", {})])
def test_200_frames_pick_max_frames_evenly(fmt, kw):
    data = animation(fmt, 200, (256, 256), **kw)
    started = time.perf_counter()
    result = decode(data, S)
    elapsed = time.perf_counter() - started
    check(result, fmt, (256, 256), S.max_frames)
    assert result.frame_count == 200
    assert top_left(result) == [colour(i) for i in range(0, 200, 25)]
    for frame, i in zip(result.frames, range(0, 200, 25)):
        assert (frame == colour(i)).all()
    print(f"\n{fmt}: 200 frames of 256x256 decoded in {elapsed * 1000:.0f} ms")
    assert elapsed < 5.0  # generous; measured well under 0.2 s


@pytest.mark.parametrize("fmt, kw", [("GIF", {}), ("WEBP", {"lossless": True}), ("PNG", {})])
def test_short_animations_and_max_frames(fmt, kw):
    data = animation(fmt, 3, **kw)
    result = decode(data, S)
    check(result, fmt, n_frames=3)
    assert top_left(result) == [colour(i) for i in range(3)]
    one = decode(data, S.replace(max_frames=1))
    assert top_left(one) == [colour(0)] and one.frame_count == 3
    ten = decode(animation(fmt, 10, **kw), S.replace(max_frames=4))
    assert top_left(ten) == [colour(i) for i in (0, 2, 5, 7)]


def test_frame_ceiling():
    frames = [gif_frame((0, 0, 1, 1), i % 256) for i in range(FRAME_CEILING + 500)]
    result = decode(raw_gif((1, 1), frames), S)
    assert result.frame_count == FRAME_CEILING
    step = FRAME_CEILING // S.max_frames
    assert top_left(result) == [PALETTE[(i * step) % 256] for i in range(S.max_frames)]


def test_frame_pixel_budget_limits_the_window():
    side = 2000
    window = FRAME_PIXEL_BUDGET // (side * side)  # 12 frames
    frames = [gif_frame((0, 0, 1, 1), i) for i in range(30)]
    result = decode(raw_gif((side, side), frames), S)
    assert result.frame_count == 30
    picks = [i * window // S.max_frames for i in range(S.max_frames)]
    assert top_left(result) == [PALETTE[i] for i in picks]


def test_gif_composited_as_displayed():
    frames = [
        gif_frame((0, 0, 4, 4), 1),  # background
        gif_frame((1, 1, 2, 2), 2),  # small patch, kept
        gif_frame((0, 0, 4, 1), pixels=[5, 3, 3, 5], transparency=3, disposal=2),
        gif_frame((3, 3, 1, 1), 4),  # after a disposal to background
    ]
    result = decode(raw_gif((4, 4), frames), S.replace(max_frames=4))
    f0, f1, f2, f3 = result.frames
    assert (f0 == PALETTE[1]).all()
    assert tuple(f1[1, 1]) == PALETTE[2] and tuple(f1[0, 0]) == PALETTE[1]
    assert tuple(f2[0, 1]) == PALETTE[1] and tuple(f2[0, 0]) == PALETTE[5]  # transparent shows through
    assert tuple(f3[2, 2]) == PALETTE[2] and tuple(f3[3, 3]) == PALETTE[4]


def test_animated_webp_with_alpha_onto_black():
    frames = [Image.new("RGBA", (8, 8), (200, 10, 10, 0)), Image.new("RGBA", (8, 8), (10, 200, 10, 255))]
    data = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    result = decode(data, S)
    check(result, "WEBP", (8, 8), 2)
    assert (result.frames[0] == 0).all() and (result.frames[1] == (10, 200, 10)).all()


def test_apng_announcing_more_frames_than_it_holds_is_corrupt():
    data = bytearray(animation("PNG", 3))
    actl = data.index(b"acTL")
    data[actl + 4 : actl + 8] = struct.pack(">I", 1000)
    data[actl + 12 : actl + 16] = struct.pack(">I", zlib.crc32(bytes(data[actl : actl + 12])))
    expect(CorruptImage, bytes(data))


def test_apng_default_image_is_the_first_frame():
    default = Image.new("RGB", (8, 8), (1, 1, 1))
    frames = [Image.new("RGB", (8, 8), colour(i)) for i in (1, 2)]
    data = encode(default, "PNG", save_all=True, append_images=frames, default_image=True)
    result = decode(data, S)
    assert top_left(result) == [(1, 1, 1), colour(1), colour(2)]


# --- MPO -------------------------------------------------------------------------


def test_mpo_is_a_jpeg():
    data = mpo()
    assert Image.open(io.BytesIO(data)).format == "MPO"
    result = decode(data, S)
    check(result, "JPEG", (40, 30), 1)
    assert result.frame_count == 1 and near(result.frames[0][15, 20], (255, 0, 0))


def test_mpo_with_a_broken_index_still_decodes_as_jpeg():
    data = bytearray(mpo())
    mpf = data.index(b"MPF\0")
    big = data[mpf + 4] == 0x4D  # "MM"
    count = data.index(b"\xb0\x01" if big else b"\x01\xb0", mpf)  # NumberOfImages entry
    data[count + 8 : count + 12] = struct.pack(">I" if big else "<I", 7)  # 7 images, 2 entries
    with pytest.warns(UserWarning):
        result = decode(bytes(data), S)
    check(result, "JPEG", (40, 30), 1)
