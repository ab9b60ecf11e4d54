"""A decoded Pillow frame as the model's pixels: upright uint8 RGB, transparency on black.

The conversion rules are ``decode.py``'s (its docstring lists them): 16-bit samples keep their
high byte, premultiplied modes keep their colour, colour-key and alpha transparency become
black, and large images are converted a strip of rows at a time to keep the decoder's peak
memory within its budget. EXIF orientation is read from the first frame and applied on the array.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image

_STRIP_PIXELS = 1 << 20  # pixels converted to the RGB array at a time
_ORIENTATION_TAG = 0x0112
_GRAY16_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})


def orientation(im: Image.Image) -> int:
    """EXIF orientation 1..8 of the loaded first frame; 1 if absent or unreadable."""
    try:
        value = im.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # malformed EXIF must never fail a request
        return 1
    return value if type(value) is int and 1 <= value <= 8 else 1


def orient(rgb: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation, as ImageOps.exif_transpose does, on the array."""
    if orientation in (5, 6, 7, 8):
        rgb = rgb.transpose(1, 0, 2)  # 5: transpose
        if orientation == 6:
            rgb = rgb[:, ::-1]  # rotate 90 clockwise
        elif orientation == 7:
            rgb = rgb[::-1, ::-1]  # transverse
        elif orientation == 8:
            rgb = rgb[::-1]  # rotate 90 counter-clockwise
    elif orientation == 2:
        rgb = rgb[:, ::-1]
    elif orientation == 3:
        rgb = rgb[::-1, ::-1]
    elif orientation == 4:
        rgb = rgb[::-1]
    return np.ascontiguousarray(rgb)


def to_rgb(im: Image.Image, key_shift: int = 0) -> np.ndarray:
    """The loaded current frame as uint8 HxWx3 RGB, alpha composited onto black."""
    mode = im.mode
    transparency = im.info.get("transparency")
    if mode in _GRAY16_MODES:
        samples = np.asarray(im)
        gray = (np.clip(samples, 0, 65535) >> 8).astype(np.uint8)
        if type(transparency) is int:
            gray[samples == transparency] = 0
        return np.repeat(gray[:, :, np.newaxis], 3, axis=2)
    if mode == "F":
        gray = np.clip(np.rint(np.asarray(im)), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, np.newaxis], 3, axis=2)
    if mode in ("La", "RGBa"):  # premultiplied: the colour already sits on black
        colour = np.asarray(im)[:, :, :-1]
        return np.ascontiguousarray(np.repeat(colour, 3, axis=2) if mode == "La" else colour)
    if mode == "RGB" and isinstance(transparency, tuple) and len(transparency) == 3:
        # colour-key transparency (keys Pillow would compare at the wrong depth)
        key = np.array(transparency, dtype=np.int64) >> key_shift
        rgb = np.array(im)
        if key.min() >= 0 and key.max() <= 255:
            rgb[(rgb == key.astype(np.uint8)).all(axis=2)] = 0
        return rgb
    if im.has_transparency_data:
        return _strips(im, _on_black)
    return _strips(im, None if mode == "RGB" else _as_rgb)


def _on_black(im: Image.Image) -> Image.Image:
    rgba = im if im.mode == "RGBA" else im.convert("RGBA")
    out = Image.new("RGB", rgba.size, (0, 0, 0))
    out.paste(rgba, (0, 0), rgba)  # result = colour * alpha / 255
    return out


def _as_rgb(im: Image.Image) -> Image.Image:
    return im.convert("RGB")


def _strips(im: Image.Image, convert: Callable[[Image.Image], Image.Image] | None) -> np.ndarray:
    """HxWx3 uint8 pixels of ``im``, converted a strip of rows at a time.

    Converting the whole image at once holds Pillow's image, its converted copy and
    the bytes numpy copies out of it (10-18 bytes per pixel at the peak); strip by
    strip the peak is the image plus the array (about 7): that is what lets a 48 MP
    photo decode within NSFW_DECODE_MEMORY_MB. The conversions are per pixel, so
    the result is the same.
    """
    width, height = im.size
    rows = max(1, _STRIP_PIXELS // width)
    if rows >= height:  # one strip: no copy of the image needed to cut it
        return np.asarray(im if convert is None else convert(im))
    out = np.empty((height, width, 3), np.uint8)
    for top in range(0, height, rows):
        strip = im.crop((0, top, width, min(height, top + rows)))
        out[top : top + strip.height] = np.asarray(strip if convert is None else convert(strip))
    return out
