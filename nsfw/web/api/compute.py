"""POST /compute: the Swiss AI Center NSFW service's contract, for its clients.

An image upload in; out, the JSON that service's code
(swiss-ai-center/image-nsfw-detector-service, ``src/my_service.py``) answers:
``{"prediction_category", "prediction_subcategory", "scores_dict_cat",
"scores_dict_sub_cat"}`` with its key names and its scores as strings
(``str()`` of the float). Our classes map onto its sub-categories as listed
in ``verdict.py``; its ``nsfw_nudity`` and ``safe_person`` are absent because
no class of this model carries them, and a score for them would be invented.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from nsfw.errors import MissingURL, ModelError, TooLarge
from nsfw.verdict import SUBCATEGORIES, categories
from nsfw.web import current, inputs, observability
from nsfw.web.openapi.error_groups import ADMISSION_ERRORS, BODY_TOO_LARGE, DECODE_ERRORS
from nsfw.web.openapi.spec import doc, image_body, json_response, ref

bp = Blueprint("compute", __name__)


@bp.post("/compute")
@doc(
    "Classify one upload in the Swiss AI Center shape",
    description="A multipart field `image` or `video` (or a raw `image/*` or `video/*` body) in; a video "
    "answers for its worst frame; categories and "
    "sub-categories out, with the scores as decimal strings, as the Swiss AI Center service "
    "answers. Its `nsfw_nudity` and `safe_person` sub-categories are absent: no class of "
    "this model carries them.",
    body=image_body(required=True),
    responses={200: json_response("the Swiss AI Center answer", ref("ComputeResponse"))},
    errors=(MissingURL, TooLarge, *DECODE_ERRORS, *ADMISSION_ERRORS, ModelError, BODY_TOO_LARGE),
)
def compute():
    detector = current.detector()
    data = inputs.single_upload(request, detector.settings.max_bytes, detector.video_bytes)
    result = detector.classify_bytes(data)
    observability.note(result)
    view = categories(result.scores, SUBCATEGORIES)
    by_category = {"nsfw": view["nsfw"], "safe": view["safe"]}
    subcategories = dict(sorted(view["subcategories"].items()))
    # That service takes the first of equal scores, in this (alphabetical) order.
    return jsonify(
        prediction_category=max(by_category, key=lambda name: by_category[name]),
        prediction_subcategory=max(subcategories, key=lambda name: subcategories[name]),
        scores_dict_cat={name: str(float(value)) for name, value in by_category.items()},
        scores_dict_sub_cat={name: str(float(value)) for name, value in subcategories.items()},
    )
