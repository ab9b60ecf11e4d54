"""The worker's long-lived objects on the Flask app, behind typed accessors.

The Detector (always) and the review queue (with ``NSFW_REVIEW`` on) live in ``app.extensions``;
views reach them through these functions, never through the string keys, so a reader (and the
type checker) can follow every use to one place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, current_app

from nsfw.errors import ReviewDisabled

if TYPE_CHECKING:
    from nsfw.pipeline import Detector
    from nsfw.review.service import Review

_DETECTOR = "nsfw"
_REVIEW = "nsfw_review"


def set_detector(app: Flask, found: Detector) -> None:
    app.extensions[_DETECTOR] = found


def set_review(app: Flask, found: Review) -> None:
    app.extensions[_REVIEW] = found


def detector(app: Flask | None = None) -> Detector:
    """The worker's Detector (the current app's unless ``app`` is given)."""
    return (app or current_app).extensions[_DETECTOR]


def review_or_none(app: Flask | None = None) -> Review | None:
    """The review queue, or None when NSFW_REVIEW is off (nothing is looked up then)."""
    return (app or current_app).extensions.get(_REVIEW)


def review() -> Review:
    """The review queue, or ReviewDisabled (404 review_disabled) when NSFW_REVIEW is off."""
    found = review_or_none()
    if found is None:
        raise ReviewDisabled()
    return found
