"""A Classification as the shared (Redis) result cache keeps it, and back."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from nsfw.imaging.pdq import Pdq
from nsfw.pipeline.interface import Classification


def encode(result: Classification) -> bytes:
    """A result as the shared (Redis) cache keeps it: JSON, without this call's timings."""
    fields = dataclasses.asdict(result)
    del fields["timings_ms"], fields["cached"], fields["sha256"], fields["match"]
    return json.dumps(fields, separators=(",", ":")).encode()


def decode(raw: bytes) -> Classification:
    fields = json.loads(raw)
    fields["timeline"] = tuple(_with_pdq(frame) for frame in fields.get("timeline") or ())
    # an entry cached before hashes were computed has none: a KeyError, so it is computed again
    fields["pdq"] = Pdq.parse(fields["pdq"])
    fields["frames_pdq"] = tuple(Pdq.parse(value) for value in fields["frames_pdq"])
    return Classification(**fields, timings_ms={})


def _with_pdq(frame: dict[str, Any]) -> dict[str, Any]:
    """A video timeline item as cached (its hash a dict) as it was computed (a Pdq)."""
    if frame.get("pdq") is not None:
        return {**frame, "pdq": Pdq.parse(frame["pdq"])}
    return frame
