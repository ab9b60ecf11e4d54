"""PDQ, Meta's open perceptual hash: what the decoder computes from an image's decoded pixels.

A ``Pdq`` is the 256-bit hash as 64 hex characters and PDQ's quality score (0-100): how much
detail the hash rests on. The hashing itself runs in the decoder process, inside its CPU and
memory budget; the known-content stage (``nsfw.known``) compares hashes.
"""

from __future__ import annotations

import dataclasses

BITS = 256


@dataclasses.dataclass(frozen=True)
class Pdq:
    """One PDQ hash: ``hash`` is 64 lowercase hex characters, ``quality`` PDQ's 0-100 score."""

    hash: str
    quality: int

    def to_dict(self) -> dict:
        return {"hash": self.hash, "quality": self.quality}
