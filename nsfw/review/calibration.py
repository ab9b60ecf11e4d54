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
``nsfw.review.calibration_result`` holds the result (its JSON and the page's table) and
``nsfw.review.calibration_plot`` draws it. Thresholds are tried on a grid of 0.001 (1001 values).

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
from nsfw.review.calibration_result import GRID, THRESHOLDS, Calibration, Outcome
from nsfw.verdict import DECISIONS, Thresholds, Verdict, nsfw_score

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
