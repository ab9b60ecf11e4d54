"""nsfw.review.calibration: the counts are the service's own verdicts, and the suggestion is the best pair.

Every count is checked against ``nsfw.verdict.verdict`` itself (the function that answers
``/v1/classify``), so the calibration cannot drift from what the service does with a threshold. The
suggestion is checked against a brute force over every pair of thresholds that can matter.
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nsfw.errors import InvalidTarget
from nsfw.review.calibration import (
    DEFAULT_TARGET,
    GRID,
    MIN_PER_KIND,
    THRESHOLDS,
    Decided,
    calibrate,
    parse_target,
)
from nsfw.verdict import Thresholds, verdict

NOW = Thresholds(adult=0.8, safe=0.2)


def scores_for(nsfw: float) -> dict:
    """Five scores whose nsfw (porn + hentai + sexy) is ``nsfw``, as a model could give them."""
    return {"drawings": 0.0, "hentai": 0.0, "neutral": 1.0 - nsfw, "porn": nsfw, "sexy": 0.0}


def by_verdict(items, thresholds: Thresholds) -> dict:
    """What the service itself answers for each item at these thresholds: counts of calls and right calls."""
    out = {"adult": 0, "adult_right": 0, "safe": 0, "safe_right": 0, "unknown": 0}
    for item in items:
        called = verdict(scores_for(item.nsfw), thresholds)
        out[called] += 1
        if called != "unknown" and called == item.decision:
            out[f"{called}_right"] += 1
    return out


nsfw_values = st.one_of(
    st.floats(0.0, 1.0, allow_nan=False),
    st.integers(0, GRID).map(lambda i: i / GRID),  # exactly on a threshold: >= and <= must match verdict()
)
decided = st.builds(Decided, nsfw_values, st.sampled_from(["adult", "safe"]))


@settings(max_examples=60, deadline=None)
@given(st.lists(decided, max_size=40), st.integers(1, GRID - 1), st.integers(0, GRID - 1))
def test_every_count_is_what_the_service_would_have_answered(items, adult_i, safe_i):
    result = calibrate(items, NOW)
    adult, safe = THRESHOLDS[max(adult_i, safe_i + 1)], THRESHOLDS[min(adult_i, safe_i)]
    expected = by_verdict(items, Thresholds(adult=adult, safe=safe))
    a, s = int(round(adult * GRID)), int(round(safe * GRID))
    assert (result.adult_called[a], result.adult_right[a]) == (expected["adult"], expected["adult_right"])
    assert (result.safe_called[s], result.safe_right[s]) == (expected["safe"], expected["safe_right"])
    now = by_verdict(items, NOW)
    current = result.current
    assert (current.auto_adult, current.auto_adult_right, current.auto_safe, current.auto_safe_right) == (
        now["adult"],
        now["adult_right"],
        now["safe"],
        now["safe_right"],
    )
    assert current.review == now["unknown"]


def test_current_thresholds_between_grid_values_are_counted_exactly():
    items = [Decided(0.8004, "adult"), Decided(0.8006, "adult"), Decided(0.1, "safe")]
    current = Thresholds(adult=0.8005, safe=0.1)
    result = calibrate(items, current)
    assert result.current.auto_adult == by_verdict(items, current)["adult"] == 1
    assert result.current.auto_safe == 1


def feasible(items, adult, safe, target) -> tuple[bool, int]:
    """(both sides reach target, items left for review), by the service's own verdict()."""
    counts = by_verdict(items, Thresholds(adult=adult, safe=safe))
    ok = all(counts[s] == 0 or counts[f"{s}_right"] >= target * counts[s] for s in ("adult", "safe"))
    return ok, counts["unknown"]


def candidates(items) -> tuple[list[float], list[float]]:
    """Every threshold that can matter: which items a threshold calls only changes at an item's score."""
    near = {0, GRID}
    for item in items:  # the grid values just below, at and just above each score
        near |= set(range(math.floor(item.nsfw * GRID) - 1, math.ceil(item.nsfw * GRID) + 2))
    values = sorted(i / GRID for i in near if 0 <= i <= GRID)
    return values, values


def kind_items(draw_adult, draw_safe):
    return [Decided(v, "adult") for v in draw_adult] + [Decided(v, "safe") for v in draw_safe]


@settings(max_examples=80, deadline=None)
@given(
    st.lists(nsfw_values, min_size=MIN_PER_KIND, max_size=14),
    st.lists(nsfw_values, min_size=MIN_PER_KIND, max_size=14),
    st.sampled_from([0.5, 0.8, 0.9, DEFAULT_TARGET, 1.0]),
)
def test_the_suggestion_reaches_the_target_with_the_fewest_reviews(adult_scores, safe_scores, target):
    items = kind_items(adult_scores, safe_scores)
    result = calibrate(items, NOW, target)
    suggested = result.suggested
    assert suggested is not None
    adult_values, safe_values = candidates(items)
    reviews = [
        review
        for a in adult_values
        for s in safe_values
        if s < a
        for ok, review in [feasible(items, a, s, target)]
        if ok
    ]
    best = min(reviews, default=None)
    if suggested.adult_threshold is None or suggested.safe_threshold is None:
        # a side that calls nothing at all: only when no pair of thresholds does as well
        assert best is None or best > suggested.review
        return
    assert suggested.safe_threshold < suggested.adult_threshold
    ok, review = feasible(items, suggested.adult_threshold, suggested.safe_threshold, target)
    assert ok, (suggested, target)
    assert review == suggested.review == best
    for precision in (suggested.adult_precision, suggested.safe_precision):
        assert precision is None or precision >= target


def test_well_separated_decisions_are_all_decided_automatically():
    items = kind_items([(600 + 10 * i) / 1000 for i in range(20)], [(100 + 10 * i) / 1000 for i in range(20)])
    result = calibrate(items, NOW)
    suggested = result.suggested
    assert suggested.review == 0 and suggested.wrong == 0
    # of the equally good pairs, the one nearest the current thresholds
    assert suggested.safe_threshold == 0.29 and suggested.adult_threshold == 0.6
    assert result.current.review == by_verdict(items, NOW)["unknown"] == 40 - 11  # 0.10 .. 0.20 are safe now
    assert "NSFW_ADULT_THRESHOLD 0.6" in result.message and "NSFW_SAFE_THRESHOLD 0.29" in result.message


def test_when_the_current_thresholds_are_already_best_the_suggestion_is_to_change_nothing():
    items = kind_items([0.9] * 10, [0.1] * 10) + [Decided(0.5, "adult"), Decided(0.5, "safe")]
    result = calibrate(items, NOW)
    assert (result.suggested.adult_threshold, result.suggested.safe_threshold) == (0.8, 0.2)
    assert result.suggested.review == result.current.review == 2
    assert result.message.startswith("The current thresholds already reach")


def test_a_side_no_threshold_gets_right_leaves_everything_to_reviewers():
    """Items at the very top that reviewers call safe: no adult threshold reaches 0.95."""
    items = kind_items([0.99] * 10, [1.0] * 10 + [0.05] * 10)
    result = calibrate(items, NOW)
    assert result.suggested.adult_threshold is None
    assert result.suggested.auto_adult == 0
    assert result.suggested.safe_threshold is not None
    assert "no adult threshold reaches it" in result.message


@pytest.mark.parametrize("adult, safe", [(0, 0), (3, 0), (MIN_PER_KIND - 1, 40), (40, MIN_PER_KIND - 1)])
def test_too_few_decisions_give_counts_and_a_message_but_no_suggestion(adult, safe):
    items = kind_items([0.9] * adult, [0.1] * safe)
    result = calibrate(items, NOW)
    assert result.suggested is None
    assert result.decided == adult + safe and (result.adult, result.safe) == (adult, safe)
    assert result.message
    if adult + safe == 0:
        assert result.message.startswith("No decisions yet")
    else:
        assert f"at least {MIN_PER_KIND} of each kind" in result.message
    body = json.dumps(result.to_dict(), allow_nan=False)  # scripts get plain JSON, never NaN
    assert len(json.loads(body)["thresholds"]) == GRID + 1


def test_the_json_form_has_the_counts_the_suggestion_and_every_threshold():
    items = kind_items([0.7] * 12, [0.3] * 12)
    data = json.loads(json.dumps(calibrate(items, NOW).to_dict(), allow_nan=False))
    assert data["decisions"] == {"adult": 12, "safe": 12} and data["decided"] == 24
    assert data["current"]["review"] == 24 and data["suggested"]["review"] == 0
    row = data["thresholds"][500]
    assert row == {
        "threshold": 0.5,
        "adult_called": 12,
        "adult_right": 12,
        "adult_precision": 1.0,
        "safe_called": 12,
        "safe_right": 12,
        "safe_precision": 1.0,
    }
    assert data["thresholds"][701]["adult_precision"] is None  # nothing called: no precision, not 0


def test_the_version_changes_with_the_decisions_the_thresholds_and_the_target():
    items = kind_items([0.7] * 12, [0.3] * 12)
    base = calibrate(items, NOW).version
    assert calibrate(list(reversed(items)), NOW).version == base  # order does not matter
    assert calibrate([*items[:-1], Decided(0.3, "adult")], NOW).version != base
    assert calibrate(items, Thresholds(adult=0.9, safe=0.2)).version != base
    assert calibrate(items, NOW, 0.9).version != base


def test_the_model_verdicts_of_the_decided_items_are_counted():
    items = [Decided(0.5, "adult", "unknown"), Decided(0.5, "safe", "unknown"), Decided(0.9, "adult", "adult")]
    assert calibrate(items, NOW).by_verdict == {"adult": 1, "unknown": 2}


@pytest.mark.parametrize("raw, expected", [(None, DEFAULT_TARGET), ("", DEFAULT_TARGET), ("0.9", 0.9), ("1", 1.0)])
def test_the_target_parameter(raw, expected):
    assert parse_target(raw) == expected


@pytest.mark.parametrize("raw", ["0.49", "1.01", "nan", "inf", "ninety", "-1"])
def test_a_bad_target_is_a_400(raw):
    with pytest.raises(InvalidTarget) as caught:
        parse_target(raw)
    assert caught.value.status == 400 and caught.value.code == "invalid_target"
