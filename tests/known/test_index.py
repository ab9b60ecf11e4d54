"""The multi-index hashing search finds exactly what a linear scan finds, at every radius it allows."""

from __future__ import annotations

import numpy as np
import pytest

from nsfw.known.index import DEFAULT, MAX_RADIUS, HashIndex, codes_from_hex, distances


def flipped(code: np.ndarray, bits: int, rng: np.random.Generator) -> np.ndarray:
    out = code.copy()
    for bit in rng.choice(256, bits, replace=False):
        out[bit // 8] ^= 1 << (bit % 8)
    return out


@pytest.fixture(scope="module")
def codes():
    rng = np.random.default_rng(20)
    base = rng.integers(0, 256, (3000, 32), dtype=np.uint8)
    # near-duplicates of the first rows, so that queries have several answers at many distances
    near = np.array([flipped(base[i % 50], 1 + i % 47, rng) for i in range(600)])
    return np.concatenate([base, near])


@pytest.mark.parametrize("radius", [0, 1, 15, 16, 31, 32, 47])
def test_search_equals_a_linear_scan(codes, radius):
    index = HashIndex(codes)
    rng = np.random.default_rng(radius)
    for _ in range(60):
        query = flipped(codes[rng.integers(len(codes))], int(rng.integers(0, 48)), rng)
        rows, found = index.search(query, radius)
        scan = distances(codes, query)
        expected = np.flatnonzero(scan <= radius)
        assert sorted(rows.tolist()) == expected.tolist()
        assert found.tolist() == sorted(scan[rows].tolist())  # nearest first, true distances


def test_rows_with_a_radius_of_their_own(codes):
    radii = np.full(len(codes), DEFAULT, dtype=np.uint8)
    radii[100] = 40  # wider than the caller's radius (rows 100-102 have no near-duplicates)
    radii[101] = 5  # narrower
    index = HashIndex(codes, radii)
    rng = np.random.default_rng(1)
    assert index.search(flipped(codes[100], 38, rng), 31)[0].tolist() == [100]
    assert index.search(flipped(codes[101], 10, rng), 31)[0].tolist() == []
    assert index.search(flipped(codes[102], 31, rng), 31)[0].tolist() == [102]


def test_empty_index_and_bad_radius():
    index = HashIndex(codes_from_hex([]))
    assert len(index) == 0 and index.search(np.zeros(32, np.uint8), 31)[0].tolist() == []
    with pytest.raises(ValueError):
        HashIndex(codes_from_hex(["00" * 32])).search(np.zeros(32, np.uint8), MAX_RADIUS + 1)


def test_hex_is_read_as_written():
    value = "0123456789abcdef" * 4
    assert codes_from_hex([value])[0].tobytes().hex() == value
