"""POST /compute: the Swiss AI Center NSFW service's contract, for its clients.

An image upload in, ``{"prediction_category", "prediction_subcategory",
"scores_dict_cat", "scores_dict_sub_cat"}`` out, with float scores. Our
classes map onto its sub-categories as documented in ``verdict.py``; there is
no "nudity" sub-category because this model has no such class.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from nsfw.errors import MissingURL
from nsfw.verdict import categories
from nsfw.web import inputs
from nsfw.web.openapi import doc, image_body, json_response, ref
from nsfw.web.openapi_schemas import ADMISSION_ERRORS, BODY_TOO_LARGE, DECODE_ERRORS, ModelError, TooLarge

bp = Blueprint("compute", __name__)


@bp.post("/compute")
@doc(
    "Classify one upload in the Swiss AI Center shape",
    description="A multipart field `image` (or a raw `image/*` body) in; categories and "
    "sub-categories with float scores out.",
    body=image_body(required=True),
    responses={200: json_response("the Swiss AI Center answer", ref("ComputeResponse"))},
    errors=(MissingURL, TooLarge, *DECODE_ERRORS, *ADMISSION_ERRORS, ModelError, BODY_TOO_LARGE),
)
def compute():
    detector = current_app.extensions["nsfw"]
    data = inputs.single_upload(request, detector.settings.max_bytes)
    result = detector.classify_bytes(data)
    view = categories(result.scores)
    subcategories = view["subcategories"]
    by_category = {"safe": view["safe"], "nsfw": view["nsfw"]}
    return jsonify(
        prediction_category=max(by_category, key=by_category.get),
        prediction_subcategory=max(subcategories, key=subcategories.get),
        scores_dict_cat=by_category,
        scores_dict_sub_cat=subcategories,
    )
