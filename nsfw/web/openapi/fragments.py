"""The pieces the API's JSON Schemas are built of: closed objects, numbers, URLs, enums from the code.

``schemas.py`` composes them into the named schemas of ``/openapi.json``; views use some directly
(``URL``, ``THRESHOLD``) for their parameters.
"""

from __future__ import annotations

from nsfw.verdict import DECISIONS, SUBCATEGORIES, UNMAPPED_SUBCATEGORIES, Verdict
from nsfw.web.openapi.known_schemas import REVIEW_ITEM_KNOWN

CLASSES = sorted(SUBCATEGORIES)
VERDICTS = [v.value for v in Verdict]
FORMATS = ["JPEG", "PNG", "GIF", "WEBP", "HEIF", "AVIF"]  # what decode.sniff_format recognises
VIDEO_FORMATS = ["MP4", "MOV", "WEBM", "MATROSKA"]  # the containers of nsfw/imaging/video.py


def closed(properties: dict, required=None, **extra) -> dict:
    """An object with exactly these keys (all required unless told otherwise)."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
        **extra,
    }


PROBABILITY = {"type": "number", "minimum": 0, "maximum": 1}
SUM = {"type": "number", "minimum": 0, "description": "a sum of probabilities (may pass 1 by rounding)"}
# A score as the Swiss AI Center service sends it: str() of a float, e.g. "0.93" or "1e-05".
SCORE_STRING = {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?(e-[0-9]+)?$"}
URL = {"type": "string", "format": "uri", "description": "an absolute http or https URL"}
BASE64 = {"type": "string", "description": "a base64 image, or a data: URL holding one"}
THRESHOLD = {"type": "number", "minimum": 0, "maximum": 1}
TINY_PNG = "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAFUlEQVR42mOM6jnBgA0wMeAAg1MCAFM9Ab4N7TEPAAAAAElFTkSuQmCC"


UNMAPPED_NOTE = (
    " and ".join(UNMAPPED_SUBCATEGORIES) + " are absent: no class of this model carries them "
    "(its porn covers nudity, its neutral covers people)"
)


DECISION = {"enum": [*(d.value for d in DECISIONS), None]}
REVIEW_ITEM = {
    "id": {"type": "integer", "minimum": 1},
    "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$", "description": "of the image's bytes"},
    "first_seen": {"type": "string", "format": "date-time"},
    "last_seen": {"type": "string", "format": "date-time"},
    "seen_count": {"type": "integer", "minimum": 1},
    "sources": {"type": "array", "items": {"type": "string"}, "description": "URLs, the first few"},
    "model": {"type": "string"},
    "scores": {"$ref": "#/components/schemas/Scores"},
    "verdict": {"type": "string", "enum": VERDICTS, "description": "the model's"},
    "decision": {**DECISION, "description": "the reviewer's; null: pending"},
    "decided_by": {"type": ["string", "null"], "description": "the reviewer"},
    "decided_at": {"type": ["string", "null"], "format": "date-time"},
    "has_thumbnail": {"type": "boolean"},
    "version": {
        "type": "integer",
        "minimum": 0,
        "description": "one more with every decision and undo: the webhook's item.version",
    },
    **REVIEW_ITEM_KNOWN,
}
