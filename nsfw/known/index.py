"""Exact Hamming-radius search over 256-bit PDQ hashes: multi-index hashing on numpy arrays.

The 256 bits are cut into 16 chunks of 16 bits. Two hashes within ``d`` bits differ in some chunk
by at most ``d // 16`` bits (pigeonhole), so probing every chunk's table with the query's chunk and
its variants within that many bits finds every candidate; each candidate's true distance is then
counted on the whole hash. For ``d <= 31`` that is 17 probes per chunk, 272 in all, each a slice of a
sorted table (CSR: a 65,537-entry offset array and the row numbers in chunk order). Nothing is
scanned: at 1,000,000 random hashes about 4,000 candidates are counted per query
(``bench/hash_lists.py`` measures it next to a linear scan).

Memory: 32 bytes per hash for the hash itself and 16 x 4 bytes of row numbers: 96 bytes per hash,
plus 4 MB of offsets. The 64-byte goal would allow 8 tables; 8 chunks of 32 bits need probes within
3 bits of each chunk (5,489 per chunk), measured far slower than 2 ms, so 16 tables it is.
"""

from __future__ import annotations

import itertools

import numpy as np

CHUNKS = 16
CHUNK_BITS = 16
BYTES = 32  # a 256-bit hash
MAX_RADIUS = 3 * CHUNKS - 1  # probes stay within 2 bits of a chunk (137 per chunk)
DEFAULT = 255  # a row without a radius of its own


def _masks(within: int) -> np.ndarray:
    """Every 16-bit value with at most ``within`` bits set: the variants probed for one chunk."""
    values = [0]
    for bits in range(1, within + 1):
        for chosen in itertools.combinations(range(CHUNK_BITS), bits):
            values.append(sum(1 << b for b in chosen))
    return np.array(values, dtype=np.uint32)


_MASKS = [_masks(within) for within in range(3)]


def codes_from_hex(hexes: list[str]) -> np.ndarray:
    """(N, 32) uint8 codes from 64-character hex strings (already checked by ``hashes.parse_hash``)."""
    if not hexes:
        return np.zeros((0, BYTES), dtype=np.uint8)
    return np.frombuffer(bytes.fromhex("".join(hexes)), dtype=np.uint8).reshape(-1, BYTES).copy()


def distances(codes: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Hamming distances from ``query`` (32 uint8) to each row of ``codes``: the linear scan."""
    words = np.ascontiguousarray(codes).view(np.uint64).reshape(-1, BYTES // 8)
    found: np.ndarray = np.bitwise_count(words ^ np.asarray(query).view(np.uint64)).sum(axis=1, dtype=np.int32)
    return found


class HashIndex:
    """Rows of hashes with an optional per-row radius; ``search`` finds every row within reach.

    ``radii`` holds a row's own distance (an imported list's per-row distance), or ``DEFAULT`` where
    the caller's radius applies.

    Immutable once built: a refresh builds a new one and swaps it in, so readers need no lock.
    """

    def __init__(self, codes: np.ndarray, radii: np.ndarray | None = None):
        codes = np.ascontiguousarray(codes, dtype=np.uint8).reshape(-1, BYTES)
        self.codes = codes
        self._words = codes.view(np.uint64)  # (N, 4): the distance is 4 popcounts
        self.radii = None if radii is None else np.asarray(radii, dtype=np.uint8)
        own = None if self.radii is None else self.radii[self.radii != DEFAULT]
        self.widest = int(own.max()) if own is not None and len(own) else 0  # the widest own radius
        count = len(codes)
        keys = codes.view(">u2").astype(np.uint16)  # (N, 16) chunk values, big-endian as the hex reads
        self._rows = np.empty((CHUNKS, count), dtype=np.uint32)
        self._offsets = np.empty((CHUNKS, 65537), dtype=np.uint32)  # 4 MB: fewer than 2**32 rows
        for chunk in range(CHUNKS):
            column = keys[:, chunk]
            self._rows[chunk] = np.argsort(column, kind="stable")  # a radix sort, for 16-bit keys
            self._offsets[chunk, 0] = 0
            np.cumsum(np.bincount(column, minlength=65536), out=self._offsets[chunk, 1:])
        self._flat_rows = self._rows.reshape(-1)

    def __len__(self) -> int:
        return len(self.codes)

    @property
    def nbytes(self) -> int:
        """Memory the index holds (hashes, row tables, offsets, radii)."""
        radii = 0 if self.radii is None else self.radii.nbytes
        return self.codes.nbytes + self._rows.nbytes + self._offsets.nbytes + radii

    def search(self, query: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, distances)`` of every row within ``radius`` bits of ``query`` (and within its own
        radius, when rows have one), nearest first."""
        if not len(self.codes):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32)
        if not 0 <= radius <= MAX_RADIUS:
            raise ValueError(f"radius must be between 0 and {MAX_RADIUS}")
        probe = max(radius, min(self.widest, MAX_RADIUS))
        query = np.asarray(query, dtype=np.uint8).reshape(BYTES)
        keys = query.view(">u2").astype(np.uint32)  # (16,)
        probes = keys[:, None] ^ _MASKS[probe // CHUNKS][None, :]  # (16, P) values to look up
        starts = np.take_along_axis(self._offsets, probes.astype(np.int64), axis=1).reshape(-1).astype(np.int64)
        ends = np.take_along_axis(self._offsets, probes.astype(np.int64) + 1, axis=1).reshape(-1).astype(np.int64)
        lengths = ends - starts
        total = int(lengths.sum())
        if total == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32)
        base = starts + np.repeat(np.arange(CHUNKS, dtype=np.int64) * len(self.codes), probes.shape[1])
        # positions base[i] .. base[i] + lengths[i] of the flat tables, all at once
        firsts = np.cumsum(lengths) - lengths
        positions = np.arange(total, dtype=np.int64) - np.repeat(firsts - base, lengths)
        candidates = self._flat_rows[positions]  # a row found by several chunks repeats; deduplicated below
        words = query.view(np.uint64)
        found = np.bitwise_count(self._words[candidates] ^ words).sum(axis=1, dtype=np.int32)
        reach: int | np.ndarray = radius
        if self.radii is not None:
            own = self.radii[candidates]
            reach = np.where(own == DEFAULT, radius, np.minimum(own, MAX_RADIUS))
        keep = found <= reach
        rows, first = np.unique(candidates[keep].astype(np.int64), return_index=True)
        found = found[keep][first]
        order = np.argsort(found, kind="stable")
        return rows[order], found[order]
