"""The JSON shapes of known content (issue 20): a match, and the hash lists' admin API."""

from __future__ import annotations

from nsfw.known.hashes import ACTIONS

HEX_HASH = {"type": "string", "pattern": "^[0-9a-f]{64}$", "description": "a PDQ hash, 64 hex digits"}
MATCH = {
    "type": "object",
    "description": "known content this image's PDQ hash matched: a decided review item, or a hash list",
    "properties": {
        "source": {"type": "string", "enum": ["review", "list"]},
        "item": {"type": "integer", "minimum": 1, "description": "the decided review item (source review)"},
        "list": {"type": "string", "description": "the hash list's name (source list)"},
        "distance": {"type": "integer", "minimum": 0, "maximum": 256, "description": "bits between the hashes"},
    },
    "required": ["source", "distance"],
    "additionalProperties": False,
}
HASH_LIST = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "action": {"type": "string", "enum": list(ACTIONS)},
        "count": {"type": "integer", "minimum": 0, "description": "hashes in the list"},
        "updated_at": {"type": "string", "format": "date-time"},
    },
    "required": ["name", "action", "count", "updated_at"],
    "additionalProperties": False,
}
KNOWN_SCHEMAS = {
    "Match": MATCH,
    "HashList": HASH_LIST,
    "HashLists": {
        "type": "object",
        "properties": {"lists": {"type": "array", "items": {"$ref": "#/components/schemas/HashList"}}},
        "required": ["lists"],
        "additionalProperties": False,
    },
}
# what a review item adds (its hash, and the decided item a near-duplicate follows)
REVIEW_ITEM_KNOWN = {
    "pdq": {**HEX_HASH, "type": ["string", "null"]},
    "pdq_quality": {"type": ["integer", "null"], "minimum": 0, "maximum": 100},
    "follows": {"type": ["integer", "null"], "description": "the decided item this near-duplicate follows"},
    "match_distance": {"type": ["integer", "null"], "description": "bits between this item's hash and that item's"},
}
