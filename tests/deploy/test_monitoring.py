"""deploy/monitoring: the alert rules are valid (promtool) and fire as their unit tests say, and every
series the Grafana dashboard and the rules name is one a live service exports on /metrics.

promtool is Debian's ``prometheus`` package (``.ci/run`` installs it); without it those tests skip.
The live service is a real gunicorn from the checkout (multiprocess metrics, as deployed) with the
review queue on, so the review series exist, after a few requests that make every series appear.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import gunicorn_helpers
import pytest
import requests
import yaml
from gunicorn_helpers import free_port, stop
from prometheus_client.parser import text_string_to_metric_families

from nsfw.observe import metrics

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "monitoring"
RULES = MONITORING / "alerts.yml"
DASHBOARD = json.loads((MONITORING / "grafana-dashboard.json").read_text())
PNG = (ROOT / "tests" / "data" / "images" / "chelsea.png").read_bytes()
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed: Debian's prometheus package")
#: Series Prometheus makes itself for every target.
PROMETHEUS_OWN = {"up"}
#: What Grafana puts in place of the dashboard's variables, for checking its queries.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$job": ".*", "$instance": ".*"}
_NOT_NAMES = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right"}


def alert_rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def dashboard_queries() -> list[str]:
    """Every PromQL expression of the dashboard: its panels' targets and its variables' selectors."""
    queries = [t["expr"] for p in DASHBOARD["panels"] for t in p.get("targets", [])]
    for variable in DASHBOARD["templating"]["list"]:
        if variable["type"] == "query":
            found = re.fullmatch(r"label_values\((.+),\s*\w+\)", variable["definition"])
            assert found, variable["definition"]
            queries.append(found[1])
    return queries


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: identifiers that are not functions, keywords,
    label names (in braces or grouping clauses), durations or strings."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for found in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        if found[0] not in _NOT_NAMES and not text[found.end() :].lstrip().startswith("("):
            names.add(found[0])
    return names


def test_the_name_finder_finds_names_and_nothing_else():
    expr = 'histogram_quantile(0.99, sum by (le, route) (rate(a_bucket{route=~"/p|x"}[5m]))) / on (job) b > 1'
    assert metric_names(expr) == {"a_bucket", "b"}
    assert all(metric_names(q) for q in dashboard_queries() + [r["expr"] for r in alert_rules()])


@needs_promtool
def test_promtool_accepts_the_rules_and_their_unit_tests_pass():
    for command in (["check", "rules", RULES.name], ["test", "rules", "alerts_test.yml"]):
        done = subprocess.run([PROMTOOL, *command], cwd=MONITORING, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
def test_every_dashboard_query_is_valid_promql(tmp_path):
    """Each query, its variables as Grafana fills them in, as a recording rule promtool parses."""
    rules = []
    for i, query in enumerate(dashboard_queries()):
        for variable, value in GRAFANA_VARIABLES.items():
            query = query.replace(variable, value)
        assert "$" not in query, query
        rules.append({"record": f"dashboard:query_{i}", "expr": query})
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_dashboard_imports_anywhere_and_shows_what_the_runbook_asks_for():
    """Its data source is a variable (no uid of someone's Grafana), panels have unique ids and do not
    overlap, and the series the issue names each have a panel."""
    panels = DASHBOARD["panels"]
    assert DASHBOARD["id"] is None and DASHBOARD["uid"] == "nsfw-service"
    assert len({p["id"] for p in panels}) == len(panels)
    cells = set()
    for panel in panels:
        x, y, w, h = (panel["gridPos"][k] for k in "xywh")
        here = {(column, row) for column in range(x, x + w) for row in range(y, y + h)}
        assert not here & cells and all(x < 24 for x, _ in here), panel["title"]
        cells |= here
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == panel["datasource"]["uid"] == "${datasource}"
    shown = " ".join(q for q in dashboard_queries())
    for series in (
        "nsfw_http_requests_total",
        "nsfw_http_request_duration_seconds_bucket",
        'reason="overloaded"',
        "nsfw_decoder_deaths_total",
        "nsfw_decoder_starts_total",
        "nsfw_queue_depth",
        "nsfw_review_pending",
        "nsfw_dependency_up",
        'result="hit"',
    ):
        assert series in shown, series


def test_every_alert_has_a_runbook_section_and_a_severity():
    runbook = (ROOT / "docs" / "operations.md").read_text()
    anchors = {_anchor(line.lstrip("#")) for line in runbook.splitlines() if line.startswith("#")}
    for rule in alert_rules():
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        page, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert page == "docs/operations.md" and anchor == rule["alert"].lower() and anchor in anchors, rule["alert"]


def _anchor(heading: str) -> str:
    """MkDocs' (Python-Markdown toc's) id for a heading."""
    text = re.sub(r"[^\w\s-]", "", heading.strip().lower())
    return re.sub(r"[-\s]+", "-", text)


def test_the_label_values_the_rules_and_dashboard_name_are_the_ones_the_code_uses():
    text = RULES.read_text() + json.dumps(DASHBOARD)
    values = {
        "reason": metrics.DECODER_DEATHS + tuple(metrics.REJECTIONS),
        "dependency": metrics.DEPENDENCIES,
        "event": tuple(metrics.REVIEW_EVENTS),
    }
    for label, allowed in values.items():
        for found in re.finditer(rf'{label}=~?\\?"([^"\\]+)\\?"', text):
            for value in found[1].split("|"):
                assert value in allowed or value.endswith(".*"), (label, value)


@pytest.mark.slow
def test_every_series_the_dashboard_and_the_rules_name_is_exported_by_a_live_service(tmp_path):
    port = free_port()
    env = dict(
        os.environ,
        PORT=str(port),
        WEB_CONCURRENCY="2",
        NSFW_TMP_DIR=str(tmp_path),
        NSFW_REVIEW="all",
        NSFW_DATABASE_URL=f"sqlite:///{tmp_path / 'review.db'}",
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    proc = gunicorn_helpers.start(env, port)
    try:
        named = set().union(*map(metric_names, dashboard_queries() + [r["expr"] for r in alert_rules()]))
        missing = _wait_for(proc.base_url, named - PROMETHEUS_OWN)
    finally:
        stop(proc)
    assert missing == set(), f"named but not exported: {sorted(missing)}"


def _wait_for(base: str, names: set[str], timeout: float = 30) -> set[str]:
    """Classify images (a miss, then a cache hit) until /metrics has every name (the review queue
    writes its sightings in the background); the names still missing at ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        for _ in range(2):
            answer = requests.post(f"{base}/predict", data=PNG, headers={"Content-Type": "image/png"}, timeout=30)
            assert answer.status_code == 200, answer.text
        text = requests.get(f"{base}/metrics", timeout=10).text
        exported = {s.name for family in text_string_to_metric_families(text) for s in family.samples}
        missing = names - exported
        if not missing or time.monotonic() > deadline:
            return missing
        time.sleep(0.5)
