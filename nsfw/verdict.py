"""From five scores to what a caller acts on: a verdict and a category view.

Clients of the original service turned scores into three states: definitely
adult, unknown (a person reviews it), definitely safe. The service does the
same with one number, ``nsfw = porn + hentai + sexy``, and two thresholds.

The category view follows the Swiss AI Center's NSFW service
(swiss-ai-center/image-nsfw-detector-service): safe/nsfw, with sub-categories
under the names its code answers, where our classes map onto them. It has
two sub-categories no class of ours carries: ``nsfw_nudity`` (GantMan's
"porn" covers nudity too) and ``safe_person`` (our "neutral" holds every safe
photo, with or without people). They are left out, never given a made-up score.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any

from nsfw.errors import InvalidThresholds

NSFW_CLASSES = ("hentai", "porn", "sexy")
SAFE_CLASSES = ("drawings", "neutral")

# our class -> the /v1/classify `categories` sub-category: the names of the Swiss AI Center
# service's documentation page, which /v1 has answered since 1.0; kept so /v1 clients keep working
V1_SUBCATEGORIES = {
    "drawings": "cartoon_neutral",
    "hentai": "cartoon_sex",
    "neutral": "neutral",
    "porn": "porn",
    "sexy": "suggestive",
}
# our class -> the sub-category that service's code answers (what /compute speaks)
SUBCATEGORIES = {
    "drawings": "safe_cartoon",
    "hentai": "nsfw_cartoon",
    "neutral": "safe_general",
    "porn": "nsfw_porn",
    "sexy": "nsfw_suggestive",
}
# Its sub-categories that no class of ours carries: never answered.
UNMAPPED_SUBCATEGORIES = ("nsfw_nudity", "safe_person")


class Verdict(enum.StrEnum):
    """The one vocabulary of outcomes: the model's verdict is any of the three, a reviewer's
    decision one of ``DECISIONS``. A ``str``, so JSON, CSV, SQL and metric labels see the word."""

    ADULT = "adult"
    SAFE = "safe"
    UNKNOWN = "unknown"


# What a reviewer may decide: "unknown" is the model's way to ask for one.
DECISIONS = (Verdict.ADULT, Verdict.SAFE)


@dataclasses.dataclass(frozen=True)
class Thresholds:
    adult: float
    safe: float

    def __post_init__(self) -> None:
        if not (0.0 <= self.safe < self.adult <= 1.0):
            raise InvalidThresholds(
                f"need 0 <= safe_threshold < adult_threshold <= 1, got safe={self.safe}, adult={self.adult}"
            )

    def override(self, adult: object = None, safe: object = None) -> Thresholds:
        """Per-request thresholds; strings come from query strings and form fields."""
        return Thresholds(
            adult=self.adult if adult is None else _number("adult_threshold", adult),
            safe=self.safe if safe is None else _number("safe_threshold", safe),
        )


def nsfw_score(scores: Mapping[str, float]) -> float:
    return float(sum(scores.get(name, 0.0) for name in NSFW_CLASSES))


def verdict(scores: Mapping[str, float], thresholds: Thresholds) -> Verdict:
    total = nsfw_score(scores)
    if total >= thresholds.adult:
        return Verdict.ADULT
    if total <= thresholds.safe:
        return Verdict.SAFE
    return Verdict.UNKNOWN


def categories(scores: Mapping[str, float], names: Mapping[str, str] = V1_SUBCATEGORIES) -> dict[str, Any]:
    """``{"safe": neutral+drawings, "nsfw": porn+hentai+sexy, "subcategories": {...}}``, the
    sub-categories under ``names`` (``SUBCATEGORIES`` for the Swiss AI Center service's own)."""
    return {
        "safe": float(sum(scores.get(name, 0.0) for name in SAFE_CLASSES)),
        "nsfw": nsfw_score(scores),
        "subcategories": {names[k]: v for k, v in scores.items() if k in names},
    }


def _number(name: str, value: object) -> float:
    if isinstance(value, bool):
        raise InvalidThresholds(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)  # type: ignore[arg-type]  # anything float() takes; the rest is refused
    except (TypeError, ValueError):
        raise InvalidThresholds(f"{name} must be a number, got {value!r}") from None
    if number != number:
        raise InvalidThresholds(f"{name} must be a number, got {value!r}")
    return number
