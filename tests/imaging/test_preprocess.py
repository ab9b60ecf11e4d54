"""Preprocessing reproduces tfjs's resizeBilinear(alignCorners=true) on x / 255."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nsfw.imaging.preprocess import to_model_input


def reference(rgb: np.ndarray, size: int) -> np.ndarray:
    """The tfjs CPU kernel, one output value at a time, in double precision."""
    h, w = rgb.shape[:2]
    x = (rgb.astype(np.float32) / np.float32(255)).astype(np.float64)
    out = np.zeros((size, size, 3), dtype=np.float32)
    row_ratio = (h - 1) / (size - 1)
    col_ratio = (w - 1) / (size - 1)
    for r in range(size):
        fr = row_ratio * r
        r0, r1, rf = math.floor(fr), min(h - 1, math.ceil(fr)), fr - math.floor(fr)
        for c in range(size):
            fc = col_ratio * c
            c0, c1, cf = math.floor(fc), min(w - 1, math.ceil(fc)), fc - math.floor(fc)
            top = x[r0, c0] + (x[r0, c1] - x[r0, c0]) * cf
            bottom = x[r1, c0] + (x[r1, c1] - x[r1, c0]) * cf
            out[r, c] = top + (bottom - top) * rf
    return out


@pytest.mark.parametrize("shape", [(37, 53), (224, 300), (500, 100), (1, 7), (3, 1), (2, 2)])
def test_matches_the_tfjs_kernel_exactly(shape):
    rng = np.random.default_rng(sum(shape))
    rgb = rng.integers(0, 256, size=(*shape, 3), dtype=np.uint8)
    got = to_model_input(rgb, 32)
    assert got.shape == (1, 32, 32, 3) and got.dtype == np.float32
    np.testing.assert_array_equal(got[0], reference(rgb, 32))


def test_image_of_input_size_is_only_scaled():
    rgb = np.arange(224 * 224 * 3, dtype=np.uint32).reshape(224, 224, 3).astype(np.uint8)
    got = to_model_input(rgb, 224)
    np.testing.assert_array_equal(got[0], rgb.astype(np.float32) / np.float32(255))


def test_corners_are_kept_exactly():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, size=(480, 640, 3), dtype=np.uint8)
    got = to_model_input(rgb, 224)[0]
    for (r, c), (R, C) in {(0, 0): (0, 0), (0, 223): (0, 639), (223, 0): (479, 0), (223, 223): (479, 639)}.items():
        np.testing.assert_array_equal(got[r, c], rgb[R, C].astype(np.float32) / np.float32(255))


def test_rejects_anything_but_uint8_rgb():
    with pytest.raises(ValueError):
        to_model_input(np.zeros((10, 10, 4), dtype=np.uint8), 224)
    with pytest.raises(ValueError):
        to_model_input(np.zeros((10, 10, 3), dtype=np.float32), 224)


@pytest.mark.parametrize("name", ["astronaut_640x480.jpg", "chelsea.png"])
def test_photos_match_the_tfjs_kernel_exactly(name):
    """The benchmark's photo and a PNG, at the model's size: every value as tfjs computes it."""
    path = Path(__file__).resolve().parents[1] / "data" / "images" / name
    rgb = np.asarray(Image.open(path).convert("RGB"))
    np.testing.assert_array_equal(to_model_input(rgb, 224)[0], reference(rgb, 224))


def test_writes_into_the_given_buffer():
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, size=(60, 80, 3), dtype=np.uint8)
    frames = np.full((2, 1, 32, 32, 3), -1.0, dtype=np.float32)  # as the decoder's shared memory
    target = frames[1]
    assert to_model_input(rgb, 32, out=target) is target
    np.testing.assert_array_equal(frames[1], to_model_input(rgb, 32))
    assert (frames[0] == -1.0).all()
    square = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    np.testing.assert_array_equal(to_model_input(square, 32, out=frames[0])[0], reference(square, 32))
    with pytest.raises(ValueError):
        to_model_input(rgb, 32, out=frames[:, :, ::2])  # not contiguous: the result would be lost
