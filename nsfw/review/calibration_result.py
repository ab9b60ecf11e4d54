"""What a calibration is: the counts at every grid threshold, the outcome of a pair, and their views.

``nsfw.review.calibration`` computes a :class:`Calibration`; this module holds what it is made of and
how it is shown: the JSON the API answers (``to_dict``) and the rows of the reviewers' page (``table``).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from nsfw.verdict import Thresholds, Verdict

GRID = 1000  # thresholds tried: 0/1000 .. 1000/1000
THRESHOLDS = np.arange(GRID + 1) / GRID  # each exactly the float i/1000, as typed in NSFW_*_THRESHOLD


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one pair of thresholds would have done with the decided items."""

    adult_threshold: float | None  # None: no adult threshold reaches the target; nothing is called adult
    safe_threshold: float | None
    auto_adult: int  # called adult by the model alone
    auto_adult_right: int  # ... and a reviewer agrees
    auto_safe: int
    auto_safe_right: int
    review: int  # left between the thresholds, for a person

    @property
    def adult_precision(self) -> float | None:
        return self.auto_adult_right / self.auto_adult if self.auto_adult else None

    @property
    def safe_precision(self) -> float | None:
        return self.auto_safe_right / self.auto_safe if self.auto_safe else None

    @property
    def wrong(self) -> int:
        return self.auto_adult - self.auto_adult_right + self.auto_safe - self.auto_safe_right

    def to_dict(self) -> dict:
        return {
            "adult_threshold": self.adult_threshold,
            "safe_threshold": self.safe_threshold,
            "auto_adult": self.auto_adult,
            "auto_adult_right": self.auto_adult_right,
            "adult_precision": self.adult_precision,
            "auto_safe": self.auto_safe,
            "auto_safe_right": self.auto_safe_right,
            "safe_precision": self.safe_precision,
            "review": self.review,
            "wrong": self.wrong,
        }


@dataclasses.dataclass(frozen=True)
class Calibration:
    target: float
    decided: int
    adult: int  # decided adult by a person
    safe: int
    by_verdict: dict  # the model's verdict when queued -> how many decided items had it
    current: Outcome  # the configured thresholds
    suggested: Outcome | None  # None when there are too few decisions, with `message` saying why
    message: str
    # the curves, one value per grid threshold (THRESHOLDS): counts of automatic calls and right ones
    adult_called: np.ndarray
    adult_right: np.ndarray
    safe_called: np.ndarray
    safe_right: np.ndarray
    scores: np.ndarray  # the decided items' nsfw scores, ascending (for the plot's histogram)
    is_adult: np.ndarray  # aligned with scores
    version: str  # changes whenever anything above would: the key of the cached plot

    def precision(self, side: Verdict) -> np.ndarray:
        """Precision of the automatic ``side`` verdict at each grid threshold; nan where nothing is called."""
        if side == Verdict.ADULT:
            called, right = self.adult_called, self.adult_right
        else:
            called, right = self.safe_called, self.safe_right
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(called > 0, right / np.maximum(called, 1), np.nan)

    def coverage(self, side: Verdict) -> np.ndarray:
        """Share of the decided items the model would decide as ``side`` by itself, at each grid threshold."""
        called = self.adult_called if side == Verdict.ADULT else self.safe_called
        return called / self.decided if self.decided else np.full(len(called), np.nan)

    def to_dict(self) -> dict:
        def number(value):
            return None if value is None or (isinstance(value, float) and math.isnan(value)) else value

        adult_precision, safe_precision = self.precision(Verdict.ADULT), self.precision(Verdict.SAFE)
        return {
            "target": self.target,
            "decided": self.decided,
            "decisions": {Verdict.ADULT: self.adult, Verdict.SAFE: self.safe},
            "by_verdict": self.by_verdict,
            "current": self.current.to_dict(),
            "suggested": self.suggested.to_dict() if self.suggested else None,
            "message": self.message,
            "version": self.version,
            "thresholds": [
                {
                    "threshold": float(t),
                    "adult_called": int(self.adult_called[i]),
                    "adult_right": int(self.adult_right[i]),
                    "adult_precision": number(float(adult_precision[i])),
                    "safe_called": int(self.safe_called[i]),
                    "safe_right": int(self.safe_right[i]),
                    "safe_precision": number(float(safe_precision[i])),
                }
                for i, t in enumerate(THRESHOLDS)
            ],
        }


def table(c: Calibration, current: Thresholds) -> list[dict]:
    """The rows the page shows: every 0.05, and the current and suggested thresholds."""
    marks = {round(i / 20, 3) for i in range(21)} | {current.adult, current.safe}
    if c.suggested:
        marks |= {t for t in (c.suggested.adult_threshold, c.suggested.safe_threshold) if t is not None}
    adult_p, safe_p = c.precision(Verdict.ADULT), c.precision(Verdict.SAFE)
    rows = []
    for t in sorted(marks):
        i = int(round(t * GRID))
        if abs(i / GRID - t) > 1e-12:  # a current threshold between grid values: its own counts
            continue
        rows.append(
            {
                "t": t,
                "adult_called": int(c.adult_called[i]),
                "adult_right": int(c.adult_right[i]),
                "adult_precision": None if adult_p[i] != adult_p[i] else float(adult_p[i]),
                "safe_called": int(c.safe_called[i]),
                "safe_right": int(c.safe_right[i]),
                "safe_precision": None if safe_p[i] != safe_p[i] else float(safe_p[i]),
                "current": t in (current.adult, current.safe),
                "suggested": bool(c.suggested and t in (c.suggested.adult_threshold, c.suggested.safe_threshold)),
            }
        )
    return rows
