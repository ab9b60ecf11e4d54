"""How right the model's automatic verdicts would be at each pair of thresholds, judged by reviewers' decisions.

The service calls an image adult when ``nsfw = porn + hentai + sexy`` is at least
NSFW_ADULT_THRESHOLD and safe when it is at most NSFW_SAFE_THRESHOLD (``nsfw.verdict``); everything
between goes to a person. Each decided item is one (nsfw, human decision) pair, so for any
threshold we can count how many items the model would have called adult (or safe) by itself and
how many of those calls a reviewer agrees with: the *precision* of that automatic verdict. The
suggestion is the pair of thresholds whose automatic verdicts reach a target precision on both
sides and leave the fewest items for review; of equally good pairs, the one closest to the
current thresholds, so that when the decisions say nothing new, the suggestion is to change nothing.

Everything here is pure (numbers in, numbers out) so the web layer, a script or a test can call it;
``nsfw.review.calibration_plot`` draws the result. Thresholds are tried on a grid of 0.001 (1001 values).

What the decisions can tell depends on what was queued: with NSFW_REVIEW=unknown only images
between the current thresholds are reviewed, so the counts say whether the automatic bands can be
widened, never whether what the model already decides is right; NSFW_REVIEW=all measures both.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Iterable

import numpy as np

from nsfw.errors import InvalidTarget
from nsfw.verdict import DECISIONS, Thresholds, Verdict, nsfw_score

GRID = 1000  # thresholds tried: 0/1000 .. 1000/1000
THRESHOLDS = np.arange(GRID + 1) / GRID  # each exactly the float i/1000, as typed in NSFW_*_THRESHOLD
# The default target: one automatic verdict in twenty may disagree with a reviewer. A stricter
# target needs far more decisions before it can be measured at all (at 0.99, a hundred automatic
# verdicts may hold at most one mistake), so 0.95 is the strictest a queue of a few hundred
# decisions supports; raise it as decisions accumulate.
DEFAULT_TARGET = 0.95
# Precision on one side cannot be measured without examples of the other: with no safe decisions
# every adult call looks right. Below this many decisions of each kind there is no suggestion.
MIN_PER_KIND = 10


def parse_target(value) -> float:
    """The ``target`` query parameter: a precision in [0.5, 1]; below one half a verdict is a coin toss."""
    if value is None or value == "":
        return DEFAULT_TARGET
    try:
        target = float(value)
    except (TypeError, ValueError):
        raise InvalidTarget(f"target must be a number, got {value!r}") from None
    if not 0.5 <= target <= 1.0:  # also refuses nan
        raise InvalidTarget(f"target must be between 0.5 and 1, got {value!r}")
    return target


@dataclasses.dataclass(frozen=True)
class Decided:
    """One decided item, as calibration sees it: the model's nsfw score, the human decision, the model's verdict."""

    nsfw: float
    decision: str  # adult | safe
    verdict: str | None = None  # what the model answered when the item was queued

    @classmethod
    def from_item(cls, item) -> Decided:
        """From a ``nsfw.review.store.Item`` (anything with ``scores``, ``decision`` and ``verdict``)."""
        return cls(nsfw_score(item.scores), item.decision, getattr(item, "verdict", None))

    @classmethod
    def from_scores(cls, scores: dict, decision: str, verdict: str | None = None) -> Decided:
        """From one of ``ReviewStore.decided_scores``' tuples."""
        return cls(nsfw_score(scores), decision, verdict)


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


def calibrate(items: Iterable[Decided], current: Thresholds, target: float = DEFAULT_TARGET) -> Calibration:
    """The counts at every grid threshold, at the current thresholds, and the suggested thresholds."""
    rows = [d for d in items if d.decision in DECISIONS and math.isfinite(d.nsfw)]
    scores = np.array([d.nsfw for d in rows], dtype=np.float64)
    adult_mask = np.array([d.decision == Verdict.ADULT for d in rows], dtype=bool)
    order = np.argsort(scores, kind="stable")
    scores, adult_mask = scores[order], adult_mask[order]
    adult_scores, safe_scores = scores[adult_mask], scores[~adult_mask]
    n, n_adult = len(scores), len(adult_scores)
    by_verdict: dict[str, int] = {}
    for d in rows:
        key = d.verdict or "unrecorded"
        by_verdict[key] = by_verdict.get(key, 0) + 1

    adult_called, adult_right = _at_least(scores, THRESHOLDS), _at_least(adult_scores, THRESHOLDS)
    safe_called, safe_right = _at_most(scores, THRESHOLDS), _at_most(safe_scores, THRESHOLDS)

    def outcome(adult: float | None, safe: float | None) -> Outcome:
        a_called = int(_at_least(scores, adult)) if adult is not None else 0
        a_right = int(_at_least(adult_scores, adult)) if adult is not None else 0
        s_called = int(_at_most(scores, safe)) if safe is not None else 0
        s_right = int(_at_most(safe_scores, safe)) if safe is not None else 0
        return Outcome(adult, safe, a_called, a_right, s_called, s_right, n - a_called - s_called)

    current_outcome = outcome(current.adult, current.safe)
    suggested, message = None, ""
    missing = {kind: MIN_PER_KIND - count for kind, count in ((Verdict.ADULT, n_adult), (Verdict.SAFE, n - n_adult))}
    if n == 0:
        message = "No decisions yet: decide items on the review page, and this page will count them."
    elif any(v > 0 for v in missing.values()):
        message = (
            f"{n} decision{'s' if n != 1 else ''} so far ({n_adult} adult, {n - n_adult} safe): a suggestion "
            f"needs at least {MIN_PER_KIND} of each kind, since the precision of one verdict cannot be "
            "measured without examples of the other."
        )
    else:
        adult_t, safe_t = _suggest(adult_called, adult_right, safe_called, safe_right, n, current, target)
        suggested = outcome(adult_t, safe_t)
        message = _describe(suggested, current_outcome, target)

    digest = hashlib.sha256()
    for part in (scores.tobytes(), adult_mask.tobytes(), repr((current.adult, current.safe, target, GRID)).encode()):
        digest.update(len(part).to_bytes(8, "big") + part)
    return Calibration(
        target=target,
        decided=n,
        adult=n_adult,
        safe=n - n_adult,
        by_verdict=dict(sorted(by_verdict.items())),
        current=current_outcome,
        suggested=suggested,
        message=message,
        adult_called=adult_called,
        adult_right=adult_right,
        safe_called=safe_called,
        safe_right=safe_right,
        scores=scores,
        is_adult=adult_mask,
        version=digest.hexdigest()[:32],
    )


def _at_least(sorted_scores: np.ndarray, thresholds):
    """How many scores are >= each threshold: what verdict() calls adult (``total >= adult``)."""
    return len(sorted_scores) - np.searchsorted(sorted_scores, thresholds, side="left")


def _at_most(sorted_scores: np.ndarray, thresholds):
    """How many scores are <= each threshold: what verdict() calls safe (``total <= safe``)."""
    return np.searchsorted(sorted_scores, thresholds, side="right")


def _suggest(adult_called, adult_right, safe_called, safe_right, n, current: Thresholds, target: float):
    """The grid pair (adult, safe), safe < adult, reaching ``target`` on both sides with the fewest reviews.

    A side whose automatic verdict covers nothing reaches any target (it makes no mistake). Each
    side also has the option None, "call nothing by this side", for when no grid threshold reaches
    the target (items at nsfw >= 1.0 that reviewers call safe); it is chosen only when needed.
    """
    # right / called >= target, without dividing by zero
    adult_ok = (adult_called == 0) | (adult_right >= target * adult_called)
    safe_ok = (safe_called == 0) | (safe_right >= target * safe_called)
    a_idx, s_idx = np.flatnonzero(adult_ok), np.flatnonzero(safe_ok)
    # positions on the grid, the None options outside it: adult above the top, safe below the bottom
    a_pos, s_pos = np.append(a_idx, GRID + 1), np.insert(s_idx, 0, -1)
    a_count, s_count = np.append(adult_called[a_idx], 0), np.insert(safe_called[s_idx], 0, 0)
    far = 10.0  # a None option is farther from the current thresholds than any grid value
    a_dist = np.append(np.abs(THRESHOLDS[a_idx] - current.adult), far)
    s_dist = np.insert(np.abs(THRESHOLDS[s_idx] - current.safe), 0, far)
    # every feasible pair (at most 1002 x 1002) with safe strictly below adult; (None, None) always is
    reviews = n - a_count[None, :] - s_count[:, None]
    reviews = np.where(s_pos[:, None] < a_pos[None, :], reviews, np.iinfo(np.int64).max)
    rows, cols = np.nonzero(reviews == reviews.min())
    pick = int(np.argmin(a_dist[cols] + s_dist[rows]))
    a, s = int(a_pos[cols[pick]]), int(s_pos[rows[pick]])
    return (float(THRESHOLDS[a]) if a <= GRID else None), (float(THRESHOLDS[s]) if s >= 0 else None)


def _describe(suggested: Outcome, current: Outcome, target: float) -> str:
    def side(name, value):
        if value is None:
            return f"no {name} threshold reaches it (leave every {name} call to reviewers)"
        return f"{value:g}"

    if (suggested.adult_threshold, suggested.safe_threshold) == (current.adult_threshold, current.safe_threshold):
        return f"The current thresholds already reach a precision of {target:g} with the fewest reviews."
    return (
        f"To reach a precision of {target:g} with the fewest reviews: NSFW_ADULT_THRESHOLD "
        f"{side(Verdict.ADULT, suggested.adult_threshold)}, "
        f"NSFW_SAFE_THRESHOLD {side(Verdict.SAFE, suggested.safe_threshold)}; "
        f"of the decided items {suggested.review} would be left for review (now {current.review})."
    )


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
