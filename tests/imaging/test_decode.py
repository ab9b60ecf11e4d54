"""nsfw.imaging.decode against a corpus of hostile and awkward images built at run time.

Every case ends in the documented typed error or a correct DecodedImage, never
in any other exception.
"""

from __future__ import annotations

import concurrent.futures
import io
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from decode_helpers import (
    PALETTE,
    S,
    animation,
    bomb_png,
    check,
    encode,
    expect,
    gif_frame,
    mpo,
    oriented,
    photo,
    png_chunk,
    raw_gif,
    raw_png,
    short,
    top_left,
)
from PIL import Image

from nsfw.errors import CorruptImage, ImageTooLarge, UnsupportedMedia
from nsfw.imaging import decode as decode_module
from nsfw.imaging import pixels as pixels_module
from nsfw.imaging.decode import decode
from nsfw.imaging.headers import scan_gif, sniff_format, webp_canvas_size


# --- formats ------------------------------------------------------------------
@pytest.mark.parametrize(
    "fmt, kw",
    [
        ("JPEG", {"quality": 95}),
        ("PNG", {}),
        ("GIF", {}),
        ("WEBP", {"lossless": True}),
    ],
)
def test_supported_still_images(fmt, kw):
    result = decode(encode(Image.new("RGB", (30, 20), (200, 40, 10)), fmt, **kw), S)
    check(result, fmt, (30, 20), 1)
    assert result.frame_count == 1
    assert np.abs(result.frames[0].astype(int) - (200, 40, 10)).max() <= 3


def test_source_kinds(tmp_path):
    data = encode(Image.new("RGB", (8, 6), (1, 2, 3)), "PNG")
    at_end = io.BytesIO(data)
    at_end.read()  # a stream left at its end is read from its start
    path = tmp_path / "x.png"
    path.write_bytes(data)

    class Unseekable:
        def __init__(self):
            self.inner = io.BytesIO(data)

        def read(self, n=-1):
            return self.inner.read(n)

    with open(path, "rb") as file:
        sources = [data, bytearray(data), memoryview(data), at_end, file, Unseekable()]
        for source in sources:
            check(decode(source, S), "PNG", (8, 6))
    assert not at_end.closed  # the caller owns its stream


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00",
        b"hello world",
        b"<!DOCTYPE html><html><body>hi</body></html>",
        b"<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'/>",
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n",
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n",
        b"\xc5\xd0\xd3\xc6" + b"\0" * 28,  # binary EPS header
        b'{"url": "http://example.invalid/x.jpg"}',
        b"GIF8",
        b"\x89PNG",
        b"RIFF\0\0\0\0WEBX",
        b"\xff\xd8",
        bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8)),
    ],
)
def test_not_an_image_is_unsupported(data):
    expect(UnsupportedMedia, data)


@pytest.mark.parametrize("fmt", ["BMP", "TIFF", "ICO", "PCX", "TGA", "PPM", "JPEG2000", "SGI", "DDS", "QOI", "ICNS"])
def test_formats_pillow_opens_but_we_do_not(fmt):
    data = encode(Image.new("RGB", (16, 16), (1, 2, 3)), fmt)
    assert Image.open(io.BytesIO(data)).format == fmt  # Pillow alone would accept it
    expect(UnsupportedMedia, data)


def test_sniffing():
    assert sniff_format(b"\xff\xd8\xff\xe0") == "JPEG"
    assert sniff_format(b"RIFF\x10\0\0\0WEBPVP8 ") == "WEBP"
    assert sniff_format(b"GIF87a") == sniff_format(b"GIF89a") == "GIF"
    assert sniff_format(b"\x89PNG\r\n\x1a\n") == "PNG"
    assert sniff_format(b"BM") is None


# --- pixel cap ------------------------------------------------------------------
def test_decompression_bomb_png():
    data = bomb_png(20000)  # 400 Mpx, over twice Pillow's own limit
    assert len(data) < 100_000
    started = time.perf_counter()
    expect(ImageTooLarge, data)
    assert time.perf_counter() - started < 1.0


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("side", [8000, 10000])  # under, then inside Pillow's warning band
def test_over_our_cap_but_under_pillows_error(side):
    error = expect(ImageTooLarge, bomb_png(side))
    assert error.code == "image_too_large" and error.status == 413


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_cap_never_exceeds_pillows_warning_limit():
    generous = S.replace(max_pixels=10**9)
    side = int((Image.MAX_IMAGE_PIXELS + 10) ** 0.5) + 1
    expect(ImageTooLarge, bomb_png(side), generous)


def test_tiny_cap_boundary():
    data = encode(Image.new("RGB", (100, 100)), "PNG")
    check(decode(data, S.replace(max_pixels=10_000)))
    expect(ImageTooLarge, data, S.replace(max_pixels=9_999))


def test_jpeg_header_claiming_huge_size():
    data = bytearray(encode(Image.new("RGB", (16, 16)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 60000, 60000)
    expect(ImageTooLarge, bytes(data))


def test_webp_canvas_checked_before_libwebp_allocates():
    data = encode(Image.new("RGBA", (16, 16), (1, 2, 3, 128)), "WEBP", lossless=True)
    assert webp_canvas_size(data[:32]) == (16, 16)
    expect(ImageTooLarge, data, S.replace(max_pixels=255))
    # an extended-format header claiming the largest canvas WebP allows
    huge = (
        b"RIFF"
        + struct.pack("<I", 22)
        + b"WEBPVP8X"
        + struct.pack("<I", 10)
        + b"\x10\0\0\0"
        + (16383).to_bytes(3, "little") * 2
    )
    assert webp_canvas_size(huge) == (16384, 16384)
    expect(ImageTooLarge, huge)
    lossy = encode(Image.new("RGB", (21, 13)), "WEBP", quality=50)
    assert webp_canvas_size(lossy[:32]) == (21, 13)


def test_gif_huge_logical_screen():
    data = raw_gif((65535, 65535), [gif_frame((0, 0, 2, 2), 5)])
    started = time.perf_counter()
    expect(ImageTooLarge, data)
    assert time.perf_counter() - started < 1.0


def test_gif_frame_claiming_huge_extent():
    # a later frame says it reaches (65535, 65535): Pillow would grow its canvas to that
    data = raw_gif((10, 10), [gif_frame((0, 0, 10, 10), 1), gif_frame((65000, 65000, 535, 535), 2, pixels=[2] * 4)])
    expect(ImageTooLarge, data)


def test_gif_frame_larger_than_screen():
    # the first frame enlarges the canvas (as Pillow and browsers do) ...
    first = gif_frame((0, 0, 20, 12), 7)
    result = decode(raw_gif((10, 10), [first]), S)
    check(result, "GIF", (20, 12))
    assert top_left(result) == [PALETTE[7]]
    # ... a later frame reaching outside is cropped to that canvas
    later = gif_frame((5, 5, 30, 30), 9)
    result = decode(raw_gif((10, 10), [gif_frame((0, 0, 10, 10), 1), later]), S)
    check(result, "GIF", (10, 10), 2)
    assert tuple(result.frames[1][9, 9]) == PALETTE[9]
    assert tuple(result.frames[1][0, 0]) == PALETTE[1]


def test_gif_scan_counts_and_grows():
    data = raw_gif((4, 4), [gif_frame((0, 0, 4, 4), 1), gif_frame((2, 3, 5, 2), 2)])
    layout = scan_gif(data, 10, 1000)
    assert (layout.frames, layout.width, layout.height) == (2, 7, 5)
    assert scan_gif(data, 1, 1000).frames == 1
    assert scan_gif(data[:13], 10, 1000).frames == 0


# --- parsing work ----------------------------------------------------------------
BLOCKS = decode_module.BLOCK_LIMIT


def fast_corrupt(data: bytes) -> None:
    started = time.perf_counter()
    expect(CorruptImage, data)
    assert time.perf_counter() - started < 1.0  # Pillow alone spends seconds on these


def test_jpeg_header_segment_spam():
    jpeg = encode(Image.new("RGB", (8, 8)), "JPEG")
    fast_corrupt(jpeg[:2] + b"\xff\xe5\x00\x02" * BLOCKS + jpeg[2:])
    fast_corrupt(jpeg[:2] + b"\xff" * BLOCKS * 10 + jpeg[2:])  # fill bytes
    check(decode(jpeg[:2] + b"\xff\xfe\x00\x02" * 1000 + jpeg[2:], S), "JPEG", (8, 8))


def test_png_chunk_spam():
    spam = png_chunk(b"abCd", b"") * BLOCKS
    fast_corrupt(raw_png(1, 1, 8, 0, [b"\0"], extra=spam))
    tail = raw_png(1, 1, 8, 0, [b"\0"])
    fast_corrupt(tail[:-12] + spam + tail[-12:])  # after the image data
    few = png_chunk(b"abCd", b"") * 1000
    check(decode(raw_png(1, 1, 8, 0, [b"\0"], extra=few), S), "PNG", (1, 1))


def test_gif_block_spam():
    comments = b"!\xfe\x00" * BLOCKS
    fast_corrupt(raw_gif((1, 1), [comments + gif_frame((0, 0, 1, 1), 1)]))
    # spam after some frames ends the count there
    frames = [gif_frame((0, 0, 1, 1), i) for i in range(3)]
    result = decode(raw_gif((1, 1), frames + [comments] + frames), S)
    assert result.frame_count == 3 and top_left(result) == [PALETTE[i] for i in range(3)]


def test_gif_stray_byte_ends_the_animation():
    frames = [gif_frame((0, 0, 1, 1), i) for i in range(4)]
    result = decode(raw_gif((1, 1), frames[:2] + [b"\x00" * 1000] + frames[2:]), S)
    assert result.frame_count == 2


def test_only_our_four_plugins_are_loaded():
    script = (
        "import io, sys; from PIL import Image; from nsfw.imaging.decode import decode; "
        "from nsfw.settings import Settings; "
        "b = io.BytesIO(); Image.new('RGB', (4, 4)).save(b, 'WEBP'); "
        "decode(b.getvalue(), Settings()); "
        "bad = [m for m in sys.modules if m.startswith('PIL.') and m.endswith('ImagePlugin') "
        "and m.split('.')[1] not in ('GifImagePlugin', 'JpegImagePlugin', 'PngImagePlugin', "
        "'WebPImagePlugin', 'MpoImagePlugin', 'BmpImagePlugin', 'PpmImagePlugin')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    # (Image.open's preinit() always imports BMP and PPM; they are never asked to open.)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2]
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_global_state_changed():
    from PIL import ImageFile

    before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)
    decode(animation("GIF", 5), S.replace(max_pixels=10**9))
    with pytest.raises(CorruptImage):
        decode(encode(photo(), "JPEG")[:300], S)
    assert before == (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)


# --- truncated and corrupt -------------------------------------------------------
@pytest.mark.parametrize(
    "fmt, kw",
    [
        ("JPEG", {}),
        ("JPEG", {"progressive": True}),
        ("PNG", {}),
        ("GIF", {}),
        ("WEBP", {"quality": 80}),
        ("WEBP", {"lossless": True}),
    ],
)
@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.9])
def test_truncated_is_corrupt(fmt, kw, fraction):
    data = encode(photo(), fmt, **kw)
    expect(CorruptImage, data[: int(len(data) * fraction)])


def test_truncated_jpeg_is_an_error_not_a_grey_half_image():
    data = encode(photo((256, 256)), "JPEG")
    error = expect(CorruptImage, data[: len(data) // 2])
    assert error.code == "corrupt_image" and error.status == 422


@pytest.mark.parametrize(
    "name, data",
    [
        ("png header only", raw_png(4, 4, 8, 2, [b"\0" * 12] * 4)[:33]),
        ("png idat garbage", raw_png(4, 4, 8, 2, None, idat=b"not zlib at all")),
        ("png zero width", raw_png(0, 4, 8, 2, [b""] * 4)),
        ("png bad colour type", raw_png(4, 4, 8, 5, [b"\0" * 12] * 4)),
        ("png bad depth", raw_png(4, 4, 7, 2, [b"\0" * 12] * 4)),
        ("gif header only", raw_gif((4, 4), [])),
        ("gif no trailer, no frame", raw_gif((4, 4), [], trailer=b"")),
        ("gif junk before frame", raw_gif((4, 4), [b"\x00junk" + gif_frame((0, 0, 4, 4), 1)])),
        ("gif bad lzw size", raw_gif((4, 4), [gif_frame((0, 0, 4, 4), 1).replace(b"\0\x08", b"\0\x0f", 1)])),
        ("gif descriptor cut", raw_gif((4, 4), [b",\0\0"], trailer=b"")),
        ("jpeg markers only", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"),
        ("webp riff only", b"RIFF\x04\0\0\0WEBP"),
        ("webp bad chunk", b"RIFF\x14\0\0\0WEBPVP8 \x08\0\0\0garbage!"),
    ],
)
def test_corrupt(name, data):
    expect(CorruptImage, data)


def test_gif_frame_with_too_little_data_is_corrupt():
    frame = gif_frame((0, 0, 8, 8), 1, pixels=[1] * 10)  # 10 of 64 pixels present
    expect(CorruptImage, raw_gif((8, 8), [frame], trailer=b""))


# --- modes -----------------------------------------------------------------------
def test_cmyk_jpeg_is_adobe_inverted():
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # pure red
    cmyk.paste((0, 0, 0, 255), (0, 0, 8, 16))  # left half black
    data = encode(cmyk, "JPEG", quality=95)
    opened = Image.open(io.BytesIO(data))
    assert opened.mode == "CMYK" and "adobe" in opened.info
    result = decode(data, S)
    check(result, "JPEG", (16, 16))
    assert np.abs(result.frames[0][8, 12].astype(int) - (255, 0, 0)).max() <= 4
    assert result.frames[0][8, 2].max() <= 4


def test_16_bit_grayscale_png_keeps_the_high_byte():
    values = [0, 255, 256, 0x1234, 0x7FFF, 0x8000, 0xFF00, 0xFFFF]
    row = struct.pack(">8H", *values)
    result = decode(raw_png(8, 1, 16, 0, [row]), S)
    check(result, "PNG", (8, 1))
    assert result.frames[0][0, :, 0].tolist() == [v >> 8 for v in values]
    assert (result.frames[0] == result.frames[0][:, :, :1]).all()  # grey
    # Pillow's own conversion would have clipped 256 and above to 255
    pillow = Image.open(io.BytesIO(raw_png(8, 1, 16, 0, [row]))).convert("L")
    assert np.asarray(pillow)[0, 2] == 255


def test_16_bit_grayscale_colour_key_becomes_black():
    row = struct.pack(">3H", 0x1234, 0x1235, 0xFFFF)
    result = decode(raw_png(3, 1, 16, 0, [row], png_chunk(b"tRNS", short(0x1234)[::-1])), S)
    assert result.frames[0][0, :, 0].tolist() == [0, 0x12, 0xFF]


@pytest.mark.parametrize(
    "key, expected",
    [
        ((0x1234, 0x5678, 0x9ABC), [[0, 0, 0], [0x64, 0x64, 0x64], [0xFF, 0, 0x80]]),
        # a small 16-bit key is not an 8-bit one: only the exact 16-bit colour is transparent
        ((0x64, 0x64, 0x64), [[0x12, 0x56, 0x9A], [0x64, 0x64, 0x64], [0xFF, 0, 0x80]]),
        ((0x6400, 0x6400, 0x6400), [[0x12, 0x56, 0x9A], [0, 0, 0], [0xFF, 0, 0x80]]),
    ],
)
def test_16_bit_rgb_with_colour_key(key, expected):
    row = struct.pack(">9H", 0x1234, 0x5678, 0x9ABC, 0x6400, 0x6400, 0x6400, 0xFFFF, 0x0000, 0x8001)
    result = decode(raw_png(3, 1, 16, 2, [row], png_chunk(b"tRNS", struct.pack(">3H", *key))), S)
    assert result.frames[0][0].tolist() == expected


def test_grey_jpeg():
    result = decode(encode(Image.new("L", (9, 7), 77), "JPEG"), S)
    check(result, "JPEG", (9, 7))
    assert np.abs(result.frames[0].astype(int) - 77).max() <= 1


@pytest.mark.parametrize(
    "extra, expected",
    [
        (b"", [[7, 7, 7], [9, 9, 9]]),
        (png_chunk(b"tRNS", struct.pack(">H", 7)), [[0, 0, 0], [9, 9, 9]]),
    ],
)
def test_8_bit_grayscale(extra, expected):
    result = decode(raw_png(2, 1, 8, 0, [bytes([7, 9])], extra), S)
    assert result.frames[0][0].tolist() == expected


def test_8_bit_rgb_colour_key():
    key = png_chunk(b"tRNS", struct.pack(">3H", 1, 2, 3))
    result = decode(raw_png(2, 1, 8, 2, [bytes([1, 2, 3, 4, 5, 6])], key), S)
    assert result.frames[0][0].tolist() == [[0, 0, 0], [4, 5, 6]]


def test_bilevel():
    im = Image.new("1", (8, 2), 0)
    im.putpixel((3, 1), 1)
    result = decode(encode(im, "PNG"), S)
    frame = result.frames[0]
    assert frame[1, 3].tolist() == [255, 255, 255] and frame.sum() == 3 * 255
    assert Image.open(io.BytesIO(encode(im, "PNG"))).mode == "1"


def palette_image(hidden_colour) -> bytes:
    """Index 0 is fully transparent (with some colour under it), 1 is half, 2 opaque."""
    plte = bytes(hidden_colour) + bytes([0, 200, 0, 0, 0, 200])
    trns = bytes([0, 128])
    return raw_png(3, 1, 8, 3, [bytes([0, 1, 2])], png_chunk(b"PLTE", plte) + png_chunk(b"tRNS", trns))


def test_palette_transparency_onto_black():
    a, b = decode(palette_image((255, 0, 0)), S), decode(palette_image((9, 250, 77)), S)
    assert np.array_equal(a.frames[0], b.frames[0])
    assert a.frames[0][0].tolist() == [[0, 0, 0], [0, 100, 0], [0, 0, 200]]


RGBA_CASE = ("RGBA", (10, 200, 30, 255), [(255, 0, 0, 0), (1, 2, 3, 0)])
LA_CASE = ("LA", (90, 255), [(255, 0), (7, 0)])


@pytest.mark.parametrize(
    "mode, opaque, clear, fmt, kw",
    [
        (*RGBA_CASE, "PNG", {}),
        (*LA_CASE, "PNG", {}),
        (*RGBA_CASE, "WEBP", {"lossless": True, "exact": True}),  # exact: keep hidden colours
    ],
)
def test_alpha_onto_black(mode, opaque, clear, fmt, kw):
    decoded = []
    for hidden in clear:
        im = Image.new(mode, (4, 2), opaque)
        im.putpixel((0, 0), hidden)
        im.putpixel((1, 0), opaque[:-1] + (128,))
        decoded.append(decode(encode(im, fmt, **kw), S).frames[0])
    assert np.array_equal(decoded[0], decoded[1])
    expected_opaque = opaque[:3] if mode == "RGBA" else (opaque[0],) * 3
    assert tuple(decoded[0][1, 1]) == expected_opaque
    assert tuple(decoded[0][0, 0]) == (0, 0, 0)
    half = [round(v * 128 / 255) for v in expected_opaque]
    assert np.abs(decoded[0][0, 1].astype(int) - half).max() <= 1


def test_gif_transparency_onto_black():
    pixels = [3, 4, 4, 3]
    result = decode(raw_gif((2, 2), [gif_frame((0, 0, 2, 2), pixels=pixels, transparency=3)]), S)
    assert result.frames[0].reshape(4, 3).tolist() == [[0, 0, 0], list(PALETTE[4]), list(PALETTE[4]), [0, 0, 0]]


@pytest.mark.parametrize(
    "mode",
    [
        "RGB",
        "L",
        "1",
        "P",
        "PA",
        "LA",
        "RGBA",
        "RGBX",
        "La",
        "RGBa",
        "CMYK",
        "YCbCr",
        "LAB",
        "HSV",
        "I;16",
        "I;16B",
        "I;16L",
        "I",
        "F",
    ],
)
def test_every_mode_becomes_rgb(mode):
    im = Image.new(mode, (5, 3))
    rgb = pixels_module.to_rgb(im)
    assert rgb.dtype == np.uint8 and rgb.shape == (3, 5, 3) and rgb.flags["C_CONTIGUOUS"]


@pytest.mark.parametrize("mode, raw", [("I;16", "<u2"), ("I;16B", ">u2"), ("I", "<i4")])
def test_wide_integer_modes_take_the_high_byte(mode, raw):
    values = np.array([[0, 255, 256, 0x8000, 0xFFFF]], dtype=raw)
    im = Image.frombytes(mode, (5, 1), values.tobytes())
    assert pixels_module.to_rgb(im)[0, :, 0].tolist() == [0, 0, 1, 0x80, 0xFF]


def test_int_mode_out_of_range_is_clipped():
    values = np.array([[-5, 70000]], dtype="<i4")
    im = Image.frombytes("I", (2, 1), values.tobytes())
    assert pixels_module.to_rgb(im)[0, :, 0].tolist() == [0, 255]


def test_float_mode():
    im = Image.frombytes("F", (3, 1), np.array([-1.0, 127.6, 999.0], "<f4").tobytes())
    assert pixels_module.to_rgb(im)[0, :, 0].tolist() == [0, 128, 255]


# --- hygiene -----------------------------------------------------------------------
def test_image_closed_on_every_path(monkeypatch):
    opened = []
    real_open = Image.open

    def spy(*args, **kwargs):
        im = real_open(*args, **kwargs)
        opened.append(im)
        return im

    monkeypatch.setattr(Image, "open", spy)
    decode(animation("GIF", 20), S)
    good = encode(photo(), "JPEG")
    with pytest.raises(CorruptImage):
        decode(good[: len(good) // 2], S)
    with pytest.raises(ImageTooLarge):
        decode(good, S.replace(max_pixels=10))
    assert len(opened) == 3
    for im in opened:
        with pytest.raises(ValueError, match="closed image"):
            im.getpixel((0, 0))


def test_unexpected_pillow_exceptions_become_corrupt(monkeypatch):
    data = encode(photo(), "PNG")
    for exc in (
        OSError,
        ValueError,
        SyntaxError,
        struct.error,
        EOFError,
        IndexError,
        TypeError,
        ZeroDivisionError,
        KeyError,
        RuntimeError,
    ):

        def boom(*args, exc=exc, **kwargs):
            raise exc("boom")

        monkeypatch.setattr(pixels_module, "to_rgb", boom)
        expect(CorruptImage, data)
    monkeypatch.setattr(
        pixels_module, "to_rgb", lambda *args: (_ for _ in ()).throw(Image.DecompressionBombError("big"))
    )
    expect(ImageTooLarge, data)


def test_running_out_of_memory_is_image_too_large_not_corrupt(monkeypatch):
    """In a decoder process a MemoryError means NSFW_DECODE_MEMORY_MB was reached: the image is too big."""
    monkeypatch.setattr(pixels_module, "to_rgb", lambda *args: (_ for _ in ()).throw(MemoryError()))
    with pytest.raises(ImageTooLarge, match="memory"):
        decode(encode(photo(), "PNG"), S)


def test_concurrent_decoding_is_consistent():
    corpus = [
        animation("GIF", 40),
        animation("WEBP", 40, lossless=True),
        animation("PNG", 40),
        encode(photo((320, 240)), "JPEG"),
        palette_image((1, 2, 3)),
        oriented(6, "JPEG")[0],
        mpo(),
    ]
    expected = [decode(data, S) for data in corpus]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        for _ in range(3):
            results = list(pool.map(lambda d: decode(d, S), corpus * 4))
            for got, want in zip(results, expected * 4):
                assert got.format == want.format and len(got.frames) == len(want.frames)
                assert all(np.array_equal(a, b) for a, b in zip(got.frames, want.frames))


def test_performance_report():
    """Not a benchmark gate: measures and prints decode times (run with -s to see them)."""
    for size in [(640, 480), (1632, 1224)]:
        data = encode(photo(size), "JPEG", quality=90)
        times = []
        for _ in range(7):
            started = time.perf_counter()
            decode(data, S)
            times.append(time.perf_counter() - started)
        median = sorted(times)[len(times) // 2]
        print(f"\nJPEG {size[0]}x{size[1]} ({len(data) // 1024} KiB): {median * 1000:.1f} ms")
        assert median < 2.0
