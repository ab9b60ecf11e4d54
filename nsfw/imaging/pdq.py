"""PDQ, Meta's open perceptual hash: what the decoder computes from an image's decoded pixels.

A ``Pdq`` is the 256-bit hash as 64 hex characters and PDQ's quality score (0-100): how much
detail the hash rests on. The hashing itself runs in the decoder process, inside its CPU and
memory budget; the known-content stage (``nsfw.known``) compares hashes.

How a frame is hashed (:func:`hash_frame`): PDQ reduces every image to a 64x64 luma buffer
(a two-pass box filter, then one sample per cell) before its DCT, so its work and its memory
grow with the pixels it is given: 480 ms and 300 MB of floats for a 12 MP photo. Here a frame
is first point-sampled on a lattice of at most ``GRID`` x ``GRID`` pixels (cell centres), which
Pillow box-averages to 64x64; the reference C++ (``pdqhash``) hashes that buffer (its own filter
is then the identity). Measured on the project's test images and 12 MP versions of them
(bench/pdq_cost.py): 0.5 ms of CPU for 12 MP, and 4 to 16 bits (mean 8.5) from ``pdqhash`` of
the full pixels, about what the reference ``pdq-photo-hasher``'s own downscale (nearest
neighbour to 512x512) moves. Hashing the lattice itself with PDQ's filter moved up to 36.

Hex convention: that of ThreatExchange's ``Hash256::format`` (word 15 first, each word as four
hex digits), which is ``pdqhash``'s bit vector (most significant bit first) packed 8 bits a byte.
Checked against the reference output for ThreatExchange's ``bridge-1-original.jpg``: the full
pixels give the Java reference's hash exactly (0 bits).
"""

from __future__ import annotations

import dataclasses
import functools
import re

import numpy as np

BITS = 256
# PDQ's authors recommend discarding hashes of quality 49 and below (ThreatExchange's pdq/README):
# a flat colour scores 0, and such a hash says nothing about the picture. Matching ignores them.
MIN_QUALITY = 50
GRID = 256  # a frame is point-sampled on at most this many rows and columns before averaging
SIDE = 64  # PDQ's own intermediate buffer
_HEX = re.compile(r"[0-9a-f]{64}")


@dataclasses.dataclass(frozen=True)
class Pdq:
    """One PDQ hash: ``hash`` is 64 lowercase hex characters, ``quality`` PDQ's 0-100 score."""

    hash: str
    quality: int

    def to_dict(self) -> dict[str, str | int]:
        return {"hash": self.hash, "quality": self.quality}

    @property
    def matchable(self) -> bool:
        """False for a low-quality hash (a flat colour, an almost empty frame): it must match nothing."""
        return self.quality >= MIN_QUALITY

    @classmethod
    def parse(cls, value: object) -> Pdq:
        """A Pdq from its ``to_dict`` form or a ``[hash, quality]`` pair; ValueError if it is not one."""
        if isinstance(value, dict):
            value = [value.get("hash"), value.get("quality")]
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise ValueError("not a PDQ hash")
        digest, quality = value
        if not isinstance(digest, str) or not _HEX.fullmatch(digest):
            raise ValueError("a PDQ hash is 64 lowercase hex characters")
        if type(quality) is not int or not 0 <= quality <= 100:
            raise ValueError("a PDQ quality is an integer from 0 to 100")
        return cls(digest, quality)


def hash_frame(rgb: np.ndarray) -> Pdq:
    """The PDQ hash of uint8 HxWx3 RGB pixels, at a cost that does not grow with their number."""
    import pdqhash  # the decoder's only: the worker never hashes
    from PIL import Image

    small = np.asarray(Image.fromarray(_lattice(rgb)).resize((SIDE, SIDE), Image.Resampling.BOX))
    bits, quality = pdqhash.compute(small)
    return Pdq(np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex(), int(quality))


def _lattice(rgb: np.ndarray) -> np.ndarray:
    """At most GRID x GRID of the pixels, at the centres of an even grid (contiguous, for Pillow)."""
    height, width = rgb.shape[:2]
    rows, columns = _plan(height, width)
    flat = rgb.reshape(height, width * 3)
    if rows is not None:
        flat = flat[rows]  # whole rows first: a row's bytes are contiguous
    if columns is not None:
        flat = flat.take(columns, axis=1)
    return np.ascontiguousarray(flat).reshape(flat.shape[0], -1, 3)


@functools.lru_cache(maxsize=64)
def _plan(height: int, width: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The rows and the byte columns sampled (None: all), the same for every frame of a size."""
    rows = columns = None
    if height > GRID:
        rows = ((np.arange(GRID) + 0.5) * height / GRID).astype(np.intp)
    if width > GRID:
        pixels = ((np.arange(GRID) + 0.5) * width / GRID).astype(np.intp)
        columns = (pixels[:, np.newaxis] * 3 + np.arange(3)).ravel()
    return rows, columns
