"""HEIF (HEIC) and AVIF: sniffing, decoding, orientation, alpha, depth, animation and hostile files.

Every file is made here by the real encoders (pillow-heif's libheif + x265, Pillow's libavif),
then edited box by box where a hostile case needs it (tests/hostile_images.py).
"""

from __future__ import annotations

import io
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pillow_heif
import pytest
from hostile_images import (
    avif,
    box,
    find_boxes,
    heic,
    heic_grid,
    with_brands,
    with_free_boxes,
    with_grid_size,
    with_ispe,
    with_items,
)
from PIL import Image, ImageOps

from nsfw.errors import CorruptImage, ImageTooLarge, ServiceError, UnsupportedMedia
from nsfw.imaging.decode import BLOCK_LIMIT, decode
from nsfw.imaging.headers import image_size, sniff_format
from nsfw.imaging.heif_headers import heif_declared_size
from nsfw.settings import Settings

S = Settings()
ROOT = Path(__file__).resolve().parents[2]


def photo(size=(64, 48)) -> Image.Image:
    """Smooth, asymmetric content: lossy codecs keep it close, and a wrong rotation cannot match."""
    rng = np.random.default_rng(11)
    small = rng.integers(0, 256, (size[1] // 8, size[0] // 8, 3), dtype=np.uint8)
    return Image.fromarray(small).resize(size, Image.Resampling.BICUBIC)


def lossless_heic(image: Image.Image) -> bytes:
    """Exactly the pixels of ``image``: 4:4:4 with the identity matrix (RGB coded as is)."""
    return heic(image, quality=-1, chroma=444, matrix_coefficients=0)


def close(a: np.ndarray, b: np.ndarray, mean: float = 10.0) -> bool:
    return a.shape == b.shape and float(np.abs(a.astype(int) - b.astype(int)).mean()) <= mean


def expect(error, data, settings=S) -> ServiceError:
    with pytest.raises(error) as info:
        decode(data, settings)
    message = info.value.message
    assert message and "Traceback" not in message and "\n" not in message
    return info.value


# --- sniffing ------------------------------------------------------------------------------------
def ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\0\0\0\0" + b"".join(compatible)
    return struct.pack(">I", 8 + len(body)) + b"ftyp" + body


@pytest.mark.parametrize(
    "head, fmt",
    [
        (ftyp(b"heic", b"mif1", b"heic"), "HEIF"),
        (ftyp(b"heix", b"mif1"), "HEIF"),
        (ftyp(b"hevc", b"msf1"), "HEIF"),
        (ftyp(b"mif1", b"mif1", b"MiHE", b"miaf", b"heic"), "HEIF"),  # as iPhones may write it
        (ftyp(b"mif1", b"miaf"), "HEIF"),  # no codec brand: libheif finds the codec
        (ftyp(b"avif", b"avif", b"mif1", b"miaf", b"MA1B"), "AVIF"),
        (ftyp(b"avis", b"avis", b"msf1"), "AVIF"),
        (ftyp(b"mif1", b"avif", b"mif1", b"miaf"), "AVIF"),  # mif1 is AVIF's too: the compatible brand decides
        (ftyp(b"msf1", b"avis"), "AVIF"),
        (ftyp(b"heic", b"avif"), "HEIF"),  # the major brand wins
        (ftyp(b"isom", b"mif1", b"avif"), None),  # MP4 video is not an image, whatever it lists
        (ftyp(b"mp42", b"isom"), None),
        (ftyp(b"qt  "), None),
        (ftyp(b"crx ", b"heic"), None),  # Canon raw
        (b"\0\0\0\x0dftypheic\0", None),  # a box size that is no ftyp
        (b"\0\0\0\x18ftyp", None),
    ],
)
def test_sniffing_by_ftyp_brands(head, fmt):
    assert sniff_format(head) == fmt


def test_real_files_are_sniffed():
    assert sniff_format(heic(photo())[:64]) == "HEIF"
    assert sniff_format(avif(photo())[:64]) == "AVIF"
    assert image_size(avif(photo((80, 40)))) == (80, 40)
    # x265 codes whole 64-pixel rows and a clean-aperture box crops them: the coded size counts
    data = heic(photo((80, 40)))
    assert image_size(data) == (80, 64) and find_boxes(data, b"clap")
    assert (decode(data, S).width, decode(data, S).height) == (80, 40)


# --- decoding ------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt, make", [("HEIF", heic), ("AVIF", avif)])
def test_decodes_close_to_the_source(fmt, make):
    source = photo((96, 64))
    result = decode(make(source, quality=90), S)
    assert (result.format, result.width, result.height, result.frame_count) == (fmt, 96, 64, 1)
    (frame,) = result.frames
    assert frame.dtype == np.uint8 and frame.flags["C_CONTIGUOUS"] and not frame.flags["WRITEABLE"]
    assert close(frame, np.asarray(source))


def test_lossless_heic_gives_exactly_the_pixels():
    source = photo((97, 61))  # odd sizes too
    assert np.array_equal(decode(lossless_heic(source), S).frames[0], np.asarray(source))


def test_a_grid_of_tiles_is_one_picture():
    data = heic_grid(256, 192, tile=64)
    assert len(find_boxes(data, b"ispe")) >= 2  # the grid's and its tiles'
    result = decode(data, S)
    assert (result.width, result.height) == (256, 192)
    ramp = result.frames[0][:, :, 0].mean(axis=0)
    assert ramp[0] < 20 and ramp[-1] > 235  # the gradient runs across every tile


@pytest.mark.parametrize("orientation", [3, 6, 8])
@pytest.mark.parametrize("fmt, make", [("HEIF", heic), ("AVIF", avif)])
def test_orientation_is_applied_once(fmt, make, orientation):
    """The encoders turn the EXIF orientation into the container's irot/imir; the decode must show
    the picture upright, as browsers do: not unrotated, not rotated twice."""
    source = photo((96, 48))
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = make(source, quality=90, exif=exif.tobytes())
    result = decode(data, S)
    upright = np.asarray(ImageOps.exif_transpose(_with_exif(source, exif)))
    assert close(result.frames[0], upright), (fmt, orientation)
    assert (result.width, result.height) == (upright.shape[1], upright.shape[0])


def _with_exif(image: Image.Image, exif: Image.Exif) -> Image.Image:
    copy = image.copy()
    copy.info["exif"] = exif.tobytes()
    return copy


def test_heif_exif_orientation_does_not_rotate_what_irot_rotated():
    source = photo((96, 48))
    exif = Image.Exif()
    exif[0x0112] = 6
    data = heic(source, quality=90, exif=exif.tobytes())
    assert find_boxes(data, b"irot") or b"irot" in data  # the rotation is in the container
    result = decode(data, S)
    assert (result.width, result.height) == (48, 96)


@pytest.mark.parametrize("fmt, make", [("HEIF", heic), ("AVIF", avif)])
def test_alpha_goes_onto_black(fmt, make):
    rgba = np.zeros((48, 64, 4), np.uint8)
    rgba[..., :3] = (250, 180, 40)  # the colour hidden under the transparent half
    rgba[:, 32:, 3] = 255
    data = make(Image.fromarray(rgba), quality=95)
    frame = decode(data, S).frames[0].astype(int)
    assert frame[:, :24].max() <= 8  # transparent: black, whatever colour it hides
    assert close(frame[:, 40:], np.full((48, 24, 3), (250, 180, 40)), mean=8)


def test_10_bit_heif_keeps_the_high_bits_like_16_bit_png():
    ramp = np.linspace(0, 65535, 256 * 16).astype(np.uint16).reshape(16, 256)
    rgb16 = np.ascontiguousarray(np.stack([ramp, ramp[:, ::-1], np.full_like(ramp, 40000)], axis=2))
    image = pillow_heif.from_bytes(mode="RGB;16", size=(256, 16), data=rgb16.tobytes())
    buf = io.BytesIO()
    image.save(buf, quality=-1, chroma=444, matrix_coefficients=0)  # stored as 10 bits, losslessly
    frame = decode(buf.getvalue(), S).frames[0]
    assert np.array_equal(frame, (rgb16 >> 8).astype(np.uint8))  # v10 >> 2 == v16 >> 8


def test_animated_avif_frames_are_spread_like_gif():
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30)] * 3
    frames = [Image.new("RGB", (32, 32), c) for c in colours]
    data = avif(frames[0], save_all=True, append_images=frames[1:], quality=95, duration=100)
    assert sniff_format(data[:64]) == "AVIF"
    result = decode(data, S.replace(max_frames=4))
    assert result.frame_count == 12 and len(result.frames) == 4
    got = [tuple(int(v) for v in f[16, 16]) for f in result.frames]
    want = [colours[i] for i in (0, 3, 6, 9)]
    assert all(max(abs(a - b) for a, b in zip(g, w)) <= 8 for g, w in zip(got, want)), got


def test_a_heif_with_several_images_gives_its_primary():
    images = [Image.new("RGB", (32, 24), c) for c in ((200, 30, 30), (30, 200, 30), (30, 30, 200))]
    heif = pillow_heif.from_pillow(images[0])
    for extra in images[1:]:
        heif.add_from_pillow(extra)
    buf = io.BytesIO()
    heif.save(buf, quality=95, primary_index=1)
    result = decode(buf.getvalue(), S)
    assert result.frame_count == 1 and len(result.frames) == 1
    assert max(abs(int(a) - b) for a, b in zip(result.frames[0][12, 16], (30, 200, 30))) <= 8


# --- the pixel cap, from the headers -------------------------------------------------------------
@pytest.mark.parametrize("make", [heic, avif])
def test_pixel_cap(make):
    data = make(photo((64, 48)))
    width, height = heif_declared_size(data, BLOCK_LIMIT)  # HEIC: 64x64, the coded size
    assert decode(data, S.replace(max_pixels=width * height)).width == 64
    error = expect(ImageTooLarge, data, S.replace(max_pixels=width * height - 1))
    assert error.status == 413 and f"{width}x{height}" in error.message


@pytest.mark.parametrize("make", [heic, avif])
def test_huge_declared_size_in_a_tiny_file(make):
    data = with_ispe(make(photo((64, 48))), 60000, 60000)
    assert len(data) < 10_000 and heif_declared_size(data, BLOCK_LIMIT) == (60000, 60000)
    error = expect(ImageTooLarge, data)
    assert error.code == "image_too_large" and "60000x60000" in error.message


def test_huge_declared_grid_of_tiles():
    """libheif allocates a grid's canvas from the grid descriptor, not from ispe: it must count."""
    data = with_grid_size(heic_grid(), 60000, 50000)
    assert heif_declared_size(data, BLOCK_LIMIT) == (60000, 50000)
    error = expect(ImageTooLarge, data)
    assert "60000x50000" in error.message
    # under the cap, a grid its tiles do not cover is corrupt, before anything is allocated
    expect(CorruptImage, with_grid_size(heic_grid(), 6000, 4000))


def test_a_real_grid_over_the_cap():
    expect(ImageTooLarge, heic_grid(256, 192, tile=64), S.replace(max_pixels=256 * 192 - 1))


# --- corrupt, truncated, wrong, too many -----------------------------------------------------------
@pytest.mark.parametrize("make", [heic, avif])
@pytest.mark.parametrize("fraction", [0.05, 0.3, 0.6, 0.9, 0.99])
def test_truncated_is_corrupt(make, fraction):
    data = make(photo((64, 48)))
    error = expect(CorruptImage, data[: max(64, int(len(data) * fraction))])
    assert error.status == 422


@pytest.mark.parametrize("make", [heic, avif])
def test_corrupt_bytes_never_escape_as_another_error(make):
    data = make(photo((64, 48)))
    rng = np.random.default_rng(5)
    for _ in range(150):
        mutated = bytearray(data)
        for pos in rng.integers(0, len(data), int(rng.integers(1, 8))):
            mutated[pos] = int(rng.integers(0, 256))
        try:
            result = decode(bytes(mutated), S)
        except (CorruptImage, ImageTooLarge, UnsupportedMedia):
            continue
        assert result.frames[0].dtype == np.uint8


def test_wrong_brands_are_a_clear_error():
    h, a = heic(photo()), avif(photo())
    expect(CorruptImage, with_brands(h, b"avif", (b"avif", b"mif1")))  # HEVC inside, AVIF outside
    expect(CorruptImage, with_brands(a, b"heic", (b"mif1", b"heic")))  # AV1 inside, HEIC outside
    expect(UnsupportedMedia, with_brands(h, b"mp42", (b"isom", b"mp42")))  # MP4 video brands
    # a major brand that is only structural still finds the right decoder
    assert decode(with_brands(a, b"mif1"), S).format == "AVIF"
    assert decode(with_brands(h, b"mif1", (b"mif1", b"miaf")), S).format == "HEIF"


def test_no_meta_box_is_corrupt():
    expect(CorruptImage, ftyp(b"heic", b"mif1") + b"\0\0\0\x10mdat" + b"\0" * 8)


@pytest.mark.parametrize("make", [heic, avif])
def test_thousands_of_boxes(make):
    error = expect(CorruptImage, with_free_boxes(make(photo()), BLOCK_LIMIT))
    assert "too many boxes" in error.message


@pytest.mark.parametrize("make", [heic, avif])
def test_thousands_of_items(make):
    expect(CorruptImage, with_items(make(photo()), 5000))


def test_heif_never_registered_with_pillow():
    """pillow-heif is used without register_heif_opener: Image.open elsewhere must still refuse HEIF."""
    script = (
        "import io, sys, pillow_heif; from PIL import Image, UnidentifiedImageError; "
        "from nsfw.imaging.decode import decode; from nsfw.settings import Settings; "
        "b = io.BytesIO(); pillow_heif.from_pillow(Image.new('RGB', (8, 8))).save(b, quality=50); "
        "assert decode(b.getvalue(), Settings()).format == 'HEIF'\n"
        "try:\n    Image.open(io.BytesIO(b.getvalue())); sys.exit('Image.open accepted HEIF')\n"
        "except UnidentifiedImageError:\n    pass\n"
        "assert 'HEIF' not in Image.OPEN, sorted(Image.OPEN)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_one_decoding_thread():
    from PIL import AvifImagePlugin
    from pillow_heif import options

    decode(heic(photo()), S)
    decode(avif(photo()), S)
    assert options.DECODE_THREADS == 1 and AvifImagePlugin.DEFAULT_MAX_THREADS == 1


# --- the box parser on hand-made structures -------------------------------------------------------
def full_box(kind: bytes, payload: bytes, version: int = 0) -> bytes:
    return box(kind, bytes([version, 0, 0, 0]) + payload)


def canvas_file(item_type: bytes, data: bytes, in_idat: bool = True) -> bytes:
    """ftyp + meta with one item of ``item_type`` whose data is ``data`` (in idat, or after meta)."""
    infe = full_box(b"infe", struct.pack(">HH", 1, 0) + item_type, version=2)
    iinf = full_box(b"iinf", struct.pack(">H", 1) + infe)

    def iloc(offset: int) -> bytes:  # version 1: 4-byte offsets and lengths, a construction method
        item = struct.pack(">HHH", 1, 1 if in_idat else 0, 0) + struct.pack(">H", 1)
        return full_box(b"iloc", b"\x44\x00" + struct.pack(">H", 1) + item + struct.pack(">II", offset, len(data)), 1)

    head = ftyp(b"heic", b"mif1", b"heic")
    if in_idat:
        meta = full_box(b"meta", iinf + iloc(0) + box(b"idat", data))
        return head + meta
    size = len(head) + len(full_box(b"meta", iinf + iloc(0)))
    return head + full_box(b"meta", iinf + iloc(size + 8)) + box(b"mdat", data)


@pytest.mark.parametrize("in_idat", [True, False])
def test_declared_canvases_of_grids_and_overlays(in_idat):
    grid16 = bytes([0, 0, 3, 3]) + struct.pack(">HH", 50000, 40000)
    grid32 = bytes([0, 1, 3, 3]) + struct.pack(">II", 70000, 60000)
    overlay = bytes([0, 0]) + bytes(8) + struct.pack(">HH", 30000, 20000) + struct.pack(">hh", 0, 0)
    assert heif_declared_size(canvas_file(b"grid", grid16, in_idat), BLOCK_LIMIT) == (50000, 40000)
    assert heif_declared_size(canvas_file(b"grid", grid32, in_idat), BLOCK_LIMIT) == (70000, 60000)
    assert heif_declared_size(canvas_file(b"iovl", overlay, in_idat), BLOCK_LIMIT) == (30000, 20000)
    expect(ImageTooLarge, canvas_file(b"iovl", overlay, in_idat))


def test_a_canvas_item_the_parser_cannot_place_is_corrupt():
    grid = bytes([0, 0, 3, 3]) + struct.pack(">HH", 50000, 40000)
    broken = canvas_file(b"grid", grid).replace(b"idat", b"free")  # its data box is gone
    with pytest.raises(ValueError):
        heif_declared_size(broken, BLOCK_LIMIT)
    expect(CorruptImage, broken)
    with pytest.raises(ValueError):
        heif_declared_size(canvas_file(b"grid", grid), 5)  # past the box limit
