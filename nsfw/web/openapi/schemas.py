"""The JSON shapes of the API as JSON Schema (2020-12, as OpenAPI 3.1 uses it).

Enums are computed from the code that produces the values (class names and
sub-categories from ``verdict.py``, error codes from the error classes), and
response objects forbid unknown keys, so a change of shape in the code fails
the schemathesis test (tests/web/test_openapi.py) until the document follows.
"""

from __future__ import annotations

from werkzeug.exceptions import NotFound, RequestEntityTooLarge  # noqa: F401

from nsfw import errors as e
from nsfw.imaging.pdq import MIN_QUALITY
from nsfw.verdict import (  # noqa: F401
    DECISIONS,
    NSFW_CLASSES,
    SAFE_CLASSES,
    SUBCATEGORIES,
    UNMAPPED_SUBCATEGORIES,
    V1_SUBCATEGORIES,
    Verdict,
)
from nsfw.web.openapi.known_schemas import KNOWN_SCHEMAS, REVIEW_ITEM_KNOWN

CLASSES = sorted(SUBCATEGORIES)
VERDICTS = [v.value for v in Verdict]
FORMATS = ["JPEG", "PNG", "GIF", "WEBP", "HEIF", "AVIF"]  # what decode.sniff_format recognises

# Error groups that views name in @doc(errors=...). Werkzeug's own errors are
# rendered through the app's handlers to learn their status and code.
FETCH_ERRORS = (e.InvalidURL, e.BlockedAddress, e.UpstreamStatus, e.FetchFailed, e.FetchTimeout, e.TooLarge)
DECODE_ERRORS: tuple[type[e.ServiceError], ...] = (
    e.UnsupportedMedia,
    e.CorruptImage,
    e.ImageTooLarge,
    e.ImageTooComplex,
)
# video (nsfw/imaging/video.py): answered where images are, so every view that decodes names them
VIDEO_FORMATS = ["MP4", "MOV", "WEBM", "MATROSKA"]
VIDEO_ERRORS = (
    e.VideoUnsupported,
    e.UnsupportedCodec,
    e.CorruptVideo,
    e.VideoTooLarge,
    e.VideoTooLong,
    e.VideoTooComplex,
)
DECODE_ERRORS = (*DECODE_ERRORS, *VIDEO_ERRORS)
ADMISSION_ERRORS = (e.Overloaded, e.DeadlineExceeded)  # the worker is full, or the request ran out of time
DECODE_ERRORS = (*DECODE_ERRORS, e.ListedContent)  # a reject-listed hash is known once decoded
ITEM_ERRORS = (*FETCH_ERRORS, *DECODE_ERRORS, *ADMISSION_ERRORS, e.InvalidBase64, e.ServiceError)
BODY_TOO_LARGE = RequestEntityTooLarge  # the request body is over NSFW_MAX_REQUEST_BYTES


def codes(classes) -> list[str]:
    return sorted({cls.code for cls in classes})


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


def error_object(code_enum: list[str]) -> dict:
    return closed(
        {
            "code": {"type": "string", "enum": code_enum},
            "message": {"type": "string"},
            "request_id": {"type": "string", "description": "the request's X-Request-ID (not on batch items)"},
            "match": {"$ref": "#/components/schemas/Match", "description": "listed_content: the list it matched"},
        },
        required=["code", "message"],
    )


def error_body(code_enum: list[str]) -> dict:
    return closed({"error": error_object(code_enum)})


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
