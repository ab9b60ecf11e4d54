"""nsfw.observe.metrics: label values stay bounded whatever a request carries."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from nsfw.observe import metrics


def rejected(reason: str) -> float:
    return REGISTRY.get_sample_value("nsfw_rejected_total", {"reason": reason}) or 0.0


@pytest.mark.parametrize(
    "code,label", [(None, ""), ("", ""), ("too_large", "too_large"), ("Not A Code", "other"), ("x" * 41, "other")]
)
def test_codes(code, label):
    assert metrics.code_label(code) == label


@pytest.mark.parametrize("method,label", [("GET", "GET"), ("POST", "POST"), ("BREW", "other"), ("get", "other")])
def test_methods(method, label):
    assert metrics.method_label(method) == label


def test_refusals_by_reason_with_a_bounded_fallback():
    before = {r: rejected(r) for r in ("overloaded", "rate_limited", "unauthorized", "other")}
    metrics.request_done("/predict", "POST", 503, "overloaded", 0.01)
    metrics.request_done("/predict", "POST", 429, "rate_limited", 0.01)
    metrics.request_done("/v1/classify", "POST", 401, "unauthorized", None)  # refused before its start was seen
    metrics.request_done("/predict", "POST", 429, "some_new_code", 0.01)  # a refusal status, an unknown code
    metrics.request_done("/predict", "POST", 429, None, 0.01)  # an answer that skipped the error handlers
    metrics.request_done("/predict", "POST", 422, "corrupt_image", 0.01)  # the caller's image: not a refusal
    after = {r: rejected(r) for r in before}
    counted = {r: after[r] - before[r] for r in before}
    assert counted == {"overloaded": 1, "rate_limited": 1, "unauthorized": 1, "other": 2}
    assert REGISTRY.get_sample_value("nsfw_rejected_total", {"reason": "corrupt_image"}) is None
    assert REGISTRY.get_sample_value("nsfw_rejected_total", {"reason": "some_new_code"}) is None
