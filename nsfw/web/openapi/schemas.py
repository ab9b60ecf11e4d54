"""The JSON shapes of the API as JSON Schema (2020-12, as OpenAPI 3.1 uses it): its named schemas.

Enums are computed from the code that produces the values (class names and
sub-categories from ``verdict.py``, error codes from the error classes), and
response objects forbid unknown keys, so a change of shape in the code fails
the schemathesis test (tests/web/test_openapi.py) until the document follows. The pieces they are
built of are in ``fragments.py``; the error groups and the error body in ``error_groups.py``.
"""

from __future__ import annotations

from nsfw.imaging.pdq import MIN_QUALITY
from nsfw.verdict import NSFW_CLASSES, SAFE_CLASSES, SUBCATEGORIES, V1_SUBCATEGORIES
from nsfw.web.openapi.error_groups import ITEM_ERRORS, codes, error_object
from nsfw.web.openapi.fragments import (
    BASE64,
    CLASSES,
    DECISION,
    FORMATS,
    PROBABILITY,
    REVIEW_ITEM,
    SCORE_STRING,
    SUM,
    THRESHOLD,
    TINY_PNG,
    UNMAPPED_NOTE,
    URL,
    VERDICTS,
    VIDEO_FORMATS,
    closed,
)
from nsfw.web.openapi.known_schemas import KNOWN_SCHEMAS

SCHEMAS = {
    "Health": closed({"status": {"const": "ok"}}),
    "Ready": closed({"status": {"const": "ready"}}),
    "Scores": closed(
        dict.fromkeys(CLASSES, PROBABILITY),
        description="class probabilities; they sum to 1",
    ),
    "Categories": closed(
        {
            "safe": {**SUM, "description": " + ".join(SAFE_CLASSES)},
            "nsfw": {**SUM, "description": " + ".join(NSFW_CLASSES)},
            "subcategories": closed(
                dict.fromkeys(V1_SUBCATEGORIES.values(), PROBABILITY),
                description="no nudity: this model has no such class (its porn covers nudity)",
            ),
        },
        description="the category view of the Swiss AI Center service's documentation "
        "(/compute answers in the names its code uses)",
    ),
    "Classification": closed(
        {
            "source": {"type": "string", "description": "the URL, the file name, image[i] or body"},
            "model": {"type": "string"},
            "scores": {"$ref": "#/components/schemas/Scores"},
            "top": {"type": "string", "enum": CLASSES},
            "nsfw": {**SUM, "description": " + ".join(NSFW_CLASSES)},
            "verdict": {"type": "string", "enum": VERDICTS},
            "categories": {"$ref": "#/components/schemas/Categories"},
            "frames": {"type": "integer", "minimum": 1, "description": "frames classified"},
            "image": closed(
                {
                    "format": {"type": "string", "enum": FORMATS + VIDEO_FORMATS},
                    "width": {"type": "integer", "minimum": 1},
                    "height": {"type": "integer", "minimum": 1},
                }
            ),
            "timing_ms": {"type": "object", "additionalProperties": {"type": "number", "minimum": 0}},
            "cached": {"type": "boolean"},
            "video": {"$ref": "#/components/schemas/Video"},
            "pdq": {
                "oneOf": [{"$ref": "#/components/schemas/Pdq"}, {"type": "null"}],
                "description": "the perceptual hash of the answered frame",
            },
            "frames_pdq": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/Pdq"},
                "description": "an animation's classified frames' hashes, in order",
            },
            "timeline": {
                "type": "array",
                "items": closed(
                    {
                        "t": {"type": "number", "description": "seconds"},
                        "scores": {"$ref": "#/components/schemas/Scores"},
                        "pdq": {"oneOf": [{"$ref": "#/components/schemas/Pdq"}, {"type": "null"}]},
                    }
                ),
                "description": "a video's classified frames in order; `scores` above are the worst frame's",
            },
            "decided_by": {
                "type": "string",
                "enum": ["model", "review", "list"],
                "description": "review: `verdict` is a reviewer's decision for these bytes or, with `match`, for a "
                "near-duplicate; list: a hash list's action (only with NSFW_REVIEW on)",
            },
            "match": {"$ref": "#/components/schemas/Match"},
        },
        required=[
            "source",
            "model",
            "scores",
            "top",
            "nsfw",
            "verdict",
            "categories",
            "frames",
            "image",
            "timing_ms",
            "cached",
        ],
        description="one image (or video) classified",
    ),
    "Pdq": closed(
        {
            "hash": {"type": "string", "pattern": "^[0-9a-f]{64}$", "description": "256 bits, ThreatExchange's hex"},
            "quality": {
                "type": "integer",
                "minimum": 0,
                "maximum": 100,
                "description": f"PDQ's quality; below {MIN_QUALITY} the hash matches nothing",
            },
        },
        required=["hash", "quality"],
        description="a PDQ perceptual hash (docs/known-content.md)",
    ),
    "Video": closed(
        {
            "duration_s": {
                "type": ["number", "null"],
                "description": "as the container declares it; null if it does not",
            },
            "width": {"type": "integer", "minimum": 1},
            "height": {"type": "integer", "minimum": 1},
            "codec": {"type": "string", "enum": ["h264", "hevc", "vp8", "vp9", "av1"]},
            "frames_classified": {"type": "integer", "minimum": 1},
            "frames_decoded": {"type": "integer", "minimum": 1},
        },
        description="a video: what was sampled (NSFW_VIDEO_FRAMES spread over the duration)",
    ),
    "ItemError": closed(
        {"source": {"type": "string"}, "error": error_object(codes(ITEM_ERRORS))},
        description="one image that failed; the rest of the batch is unaffected",
    ),
    "ClassifyResponse": closed(
        {
            "results": {
                "type": "array",
                "description": "one item per input, in input order",
                "items": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/Classification"},
                        {"$ref": "#/components/schemas/ItemError"},
                    ]
                },
            }
        }
    ),
    "HashRequest": {
        "type": "object",
        "description": 'exactly one of "url", "urls", "image" or "images"',
        "properties": {
            "url": URL,
            "urls": {"type": "array", "items": URL, "minItems": 1},
            "image": BASE64,
            "images": {"type": "array", "items": BASE64, "minItems": 1},
        },
        "oneOf": [{"title": key, "required": [key]} for key in ("url", "urls", "image", "images")],
        "examples": [{"image": TINY_PNG}],
    },
    "Hashes": closed(
        {
            "source": {"type": "string", "description": "the URL, the file name, image[i] or body"},
            "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$", "description": "of the bytes"},
            "pdq": {"$ref": "#/components/schemas/Pdq"},
            "frames": {"type": "integer", "minimum": 1, "description": "frames hashed"},
            "image": closed(
                {
                    "format": {"type": "string", "enum": FORMATS + VIDEO_FORMATS},
                    "width": {"type": "integer", "minimum": 1},
                    "height": {"type": "integer", "minimum": 1},
                }
            ),
            "timing_ms": {"type": "object", "additionalProperties": {"type": "number", "minimum": 0}},
            "frames_pdq": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/Pdq"},
                "description": "an animation's hashed frames, in order (the ones /v1/classify classifies)",
            },
            "timeline": {
                "type": "array",
                "items": closed(
                    {"t": {"type": "number", "description": "seconds"}, "pdq": {"$ref": "#/components/schemas/Pdq"}}
                ),
                "description": "a video's sampled frames, in order",
            },
        },
        required=["source", "sha256", "pdq", "frames", "image", "timing_ms"],
        description="one image's (or video's) perceptual hashes; `pdq` is the first frame's",
    ),
    "HashResponse": closed(
        {
            "results": {
                "type": "array",
                "description": "one item per input, in input order",
                "items": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/Hashes"},
                        {"$ref": "#/components/schemas/ItemError"},
                    ]
                },
            }
        }
    ),
    "ClassifyRequest": {
        "type": "object",
        "description": 'exactly one of "url", "urls", "image" or "images", and optional options',
        "properties": {
            "url": URL,
            "urls": {"type": "array", "items": URL, "minItems": 1},
            "image": BASE64,
            "images": {"type": "array", "items": BASE64, "minItems": 1},
            "model": {"$ref": "#/components/schemas/ModelName"},
            "adult_threshold": THRESHOLD,
            "safe_threshold": THRESHOLD,
        },
        "oneOf": [{"title": key, "required": [key]} for key in ("url", "urls", "image", "images")],
        "examples": [{"image": TINY_PNG}, {"urls": ["https://example.com/a.jpg", "https://example.com/b.png"]}],
    },
    "Model": closed(
        {
            "name": {"type": "string"},
            "default": {"type": "boolean"},
            "input_size": {"type": ["integer", "null"]},
            "classes": {"type": "array", "items": {"type": "string"}},
            "sha256": {"type": ["string", "null"]},
            "description": {"type": "string"},
            "accuracy": {"type": "string", "description": "accuracy as published by nsfwjs, if any"},
            "provenance": {"type": "object"},
        }
    ),
    "ModelsResponse": closed({"models": {"type": "array", "items": {"$ref": "#/components/schemas/Model"}}}),
    # the review queue (nsfw/web/review_api.py)
    "ReviewItem": closed(REVIEW_ITEM, description="one image in the review queue, keyed by its sha256"),
    "ReviewItemWithHistory": closed(
        {
            **REVIEW_ITEM,
            "history": {
                "type": "array",
                "items": closed(
                    {
                        "decision": DECISION,
                        "reviewer": {"type": "string"},
                        "decided_at": {"type": "string", "format": "date-time"},
                    }
                ),
                "description": "every decision and undo (null), oldest first",
            },
        },
        description="one image in the review queue, with the history of its decisions",
    ),
    "ReviewPage": closed(
        {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/ReviewItem"}},
            "next_cursor": {"type": ["string", "null"], "description": "null: this is the last page"},
        }
    ),
    "ReviewDecisionRequest": closed({"decision": {**DECISION, "description": "null: undo, back to pending"}}),
    **KNOWN_SCHEMAS,
    "ComputeResponse": closed(
        {
            "prediction_category": {"type": "string", "enum": ["nsfw", "safe"]},
            "prediction_subcategory": {"type": "string", "enum": sorted(SUBCATEGORIES.values())},
            "scores_dict_cat": closed({"nsfw": SCORE_STRING, "safe": SCORE_STRING}),
            "scores_dict_sub_cat": closed(
                dict.fromkeys(sorted(SUBCATEGORIES.values()), SCORE_STRING),
                description=UNMAPPED_NOTE,
            ),
        },
        description="the Swiss AI Center NSFW service's answer: its keys, its scores as decimal strings",
    ),
}
