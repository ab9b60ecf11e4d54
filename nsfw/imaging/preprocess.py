"""Turn decoded RGB pixels into the model's input tensor, exactly as nsfwjs does.

nsfwjs divides the uint8 pixels by 255 and stretches them to the model's
square input with ``tf.image.resizeBilinear(x, [size, size], alignCorners=true)``
(no crop, no antialiasing). Pillow's resize, half-pixel-centre resizing and
nearest-neighbour all move probabilities by up to 0.38 on ordinary photos,
so this module reproduces tfjs's CPU kernel: sample positions
``r * (in - 1) / (out - 1)`` computed in double precision, each stored value
rounded to float32.

Only the (at most 2 x size) source rows and columns that the interpolation
touches are gathered, as bytes, before any float conversion, so a 12 MP photo
costs the same arithmetic as a small one.
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt

_255 = np.float32(255.0)

_Indices = npt.NDArray[np.intp]
_Fractions = npt.NDArray[np.float64]


@functools.lru_cache(maxsize=256)
def _axis(in_len: int, out_len: int) -> tuple[_Indices, _Indices, _Fractions]:
    """Floor index, ceil index and fraction for each output position (tfjs semantics)."""
    if out_len > 1:
        ratio = (in_len - 1) / (out_len - 1)
    else:
        ratio = float(in_len) / out_len
    src = ratio * np.arange(out_len, dtype=np.float64)
    floor = np.floor(src)
    frac = src - floor
    lo = floor.astype(np.intp)
    hi = np.minimum(in_len - 1, np.ceil(src).astype(np.intp))
    return lo, hi, frac


@functools.lru_cache(maxsize=256)
def _plan(
    height: int, width: int, size: int
) -> tuple[_Indices, _Indices, _Indices, _Fractions, _Indices, _Indices, _Fractions]:
    """Which source rows and byte columns a resize needs; the same for every image of a size."""
    r_lo, r_hi, r_frac = _axis(height, size)
    c_lo, c_hi, c_frac = _axis(width, size)
    needed = np.zeros(height, dtype=bool)
    needed[r_lo] = needed[r_hi] = True
    rows = np.flatnonzero(needed)
    position = np.cumsum(needed) - 1
    # In an (H, W*3) view of the pixels, channel k of pixel c is byte column 3c + k.
    channels = np.arange(3)
    lo_cols = (c_lo[:, np.newaxis] * 3 + channels).ravel()
    hi_cols = (c_hi[:, np.newaxis] * 3 + channels).ravel()
    return rows, position[r_lo], position[r_hi], r_frac[:, np.newaxis], lo_cols, hi_cols, np.repeat(c_frac, 3)


def _scaled(pixels: np.ndarray) -> np.ndarray:
    """float32(v / 255) for uint8 v, widened to float64: the value tfjs stores, exactly.

    One float32 division (IEEE division is correctly rounded, so this is tfjs's value),
    measured faster than looking the 256 values up in a table, which first widens every
    byte to an 8-byte index.
    """
    scaled: npt.NDArray[np.float32] = np.divide(pixels, _255, dtype=np.float32)
    return scaled.astype(np.float64)


def to_model_input(rgb: np.ndarray, size: int, out: np.ndarray | None = None) -> np.ndarray:
    """uint8 HxWx3 pixels -> float32 array of shape (1, size, size, 3) in [0, 1].

    With ``out`` (float32, ``size * size * 3`` values, e.g. the decoder's shared memory) the
    result is written there and ``out`` returned: no temporary array for it.
    """
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected uint8 HxWx3 pixels, got {rgb.dtype} {rgb.shape}")
    height, width = rgb.shape[:2]
    if out is None:
        out = np.empty((1, size, size, 3), dtype=np.float32)
    elif out.dtype != np.float32 or not out.flags.c_contiguous or out.size != size * size * 3:
        raise ValueError(f"out must be C-contiguous float32 with {size}x{size}x3 values")
    if (height, width) == (size, size):
        # nsfwjs skips the resize when the image already has the input size.
        np.divide(rgb, _255, out=out.reshape(size, size, 3), dtype=np.float32)
        return out

    rows, r_lo, r_hi, r_frac, lo_cols, hi_cols, c_frac = _plan(height, width, size)
    needed = rgb.reshape(height, width * 3)[rows]
    # tfjs: top = TL + (TR - TL) * colFrac; bottom likewise; value = top + (bottom - top) * rowFrac,
    # in doubles, stored as float32. Interpolating across first, for the needed rows only, gives
    # the same top and bottom values with half the gathering; the in-place steps compute the same
    # expressions (IEEE addition commutes) without allocating a buffer for each.
    left = _scaled(np.take(needed, lo_cols, axis=1))
    across = _scaled(np.take(needed, hi_cols, axis=1))
    across -= left
    across *= c_frac
    across += left
    top, value = across[r_lo], across[r_hi]
    value -= top
    value *= r_frac
    value += top
    np.copyto(out.reshape(size, size * 3), value, casting="same_kind")  # each value rounded to float32 once
    return out
