"""The benchmark's reference app (bench/original): the original design, under real gunicorn on loopback.

It must answer like the original service (``/health``, ``/predict?url=`` with the
five scores), give scores close to ours for the same image from the same weights,
and delete its temporary file per request. One gunicorn (one sync worker, so the
TensorFlow import and the model build are paid once) serves every test here.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from helpers import CLASSES, IMAGES

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"

# Keras' load_img resizes with PIL's nearest neighbour (nsfw_model's predict.py keeps
# that default); we resize exactly as nsfwjs does (bilinear, align_corners). Different
# pixels give different scores: up to 0.0099 (porn) on chelsea.png, bounded loosely here. It
# still catches wrong weights, a wrong class order or a missing /255 (those move
# scores by tenths or flip the top class).
SCORE_TOLERANCE = 0.05


@pytest.fixture(scope="module")
def bench_modules():
    """bench/ is a directory of scripts that import each other by bare name."""
    sys.path.insert(0, str(BENCH))
    try:
        import load
        import procstats
        import report
        import run
        import service
    finally:
        sys.path.remove(str(BENCH))
    return SimpleNamespace(load=load, procstats=procstats, report=report, run=run, service=service)


@pytest.fixture(scope="module")
def original(tmp_path_factory, bench_modules):
    """The reference app under gunicorn with its own TMPDIR, so its temporary files can be watched."""
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("the original design runs Keras: install TensorFlow (requirements-dev.txt)")
    workdir = tmp_path_factory.mktemp("original")
    spool = workdir / "tmp"
    spool.mkdir()
    service = bench_modules.service.OriginalService(workdir, workers=1, extra_env={"TMPDIR": str(spool)})
    service.start()
    pids = []
    try:
        service.wait_ready(timeout=180)
        pids = service.all_pids()
        service.spool = spool
        yield service
    finally:
        service.stop()
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", service.port)) != 0, "the original design is still listening"
    assert not [pid for pid in pids if bench_modules.procstats.alive(pid)], "a gunicorn process outlived stop()"


@pytest.mark.slow
def test_health(original):
    answer = requests.get(f"{original.base}/health", timeout=10)
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}


@pytest.mark.slow
def test_predict_url_scores_close_to_ours_and_no_temp_file_left(original, httpserver, client):
    httpserver.expect_request("/chelsea.png").respond_with_data(
        (IMAGES / "chelsea.png").read_bytes(), content_type="image/png"
    )
    url = httpserver.url_for("/chelsea.png")
    theirs = requests.post(f"{original.base}/predict", params={"url": url}, timeout=60)
    assert theirs.status_code == 200, theirs.text
    scores = theirs.json()
    assert sorted(scores) == sorted(CLASSES)
    assert sum(scores.values()) == pytest.approx(1.0, abs=1e-4)

    ours = client.post("/predict", query_string={"url": url})
    assert ours.status_code == 200, ours.get_data(as_text=True)
    for name in CLASSES:
        assert scores[name] == pytest.approx(ours.json[name], abs=SCORE_TOLERANCE), (name, scores, ours.json)
    assert max(scores, key=scores.get) == max(ours.json, key=ours.json.get)

    assert os.listdir(original.spool) == [], "the original design left its temporary file behind"


@pytest.mark.slow
def test_a_bad_image_is_an_error_and_still_no_temp_file_left(original, httpserver):
    """The original had no error handling (a 500), but it must not leak the file either."""
    httpserver.expect_request("/not-an-image").respond_with_data(b"<html>no</html>", content_type="text/html")
    answer = requests.post(f"{original.base}/predict", params={"url": httpserver.url_for("/not-an-image")}, timeout=60)
    assert answer.status_code == 500
    assert os.listdir(original.spool) == []
    # the worker survived it
    assert requests.get(f"{original.base}/health", timeout=10).status_code == 200


def test_the_original_cell_is_on_in_a_full_run_and_off_in_quick_unless_asked(bench_modules):
    parse = bench_modules.run.parse_args
    assert parse(["--output", "/dev/null"]).original is True
    assert parse(["--quick"]).original is False
    assert parse(["--quick", "--original"]).original is True
    assert parse(["--no-original", "--output", "/dev/null"]).original is False
    assert parse(["--quick"]).original_workers >= 3  # 2 x cores + 1 sync workers
    assert parse(["--quick", "--original-workers", "2"]).original_workers == 2


def _cell(bench_modules, mode: str, rps: float):
    result = bench_modules.load.Result(round(rps * 8), 8.0, 50.0, 60.0, 70.0, 0, 0, 0, {})
    return bench_modules.report.Cell(mode, "640x480 JPEG", 8, result)


@pytest.mark.parametrize(
    ("ours", "theirs", "verdict"), [(120.0, 10.0, "12.0× (≥10×) met"), (90.0, 10.0, "9.0× (≥10×) MISSED")]
)
def test_the_table_gives_ours_over_original(bench_modules, ours, theirs, verdict):
    report = bench_modules.report
    cells = [_cell(bench_modules, "url", ours), _cell(bench_modules, report.ORIGINAL_MODE, theirs)]
    row = next(line for line in report.table(cells, None, None).splitlines() if line.startswith("| original design"))
    assert row.endswith(f"| ours ({ours:.0f} req/s) / original = {verdict} |"), row


def test_without_our_url_cell_the_table_says_so(bench_modules):
    report = bench_modules.report
    cells = [_cell(bench_modules, "upload", 120.0), _cell(bench_modules, report.ORIGINAL_MODE, 10.0)]
    assert "no url 640x480 JPEG c8 cell of ours" in report.table(cells, None, None)


def test_the_table_also_gives_the_cpu_per_request_ratio(bench_modules):
    report = bench_modules.report
    ours, theirs = _cell(bench_modules, "url", 120.0), _cell(bench_modules, report.ORIGINAL_MODE, 10.0)
    ours.cpu_ms, theirs.cpu_ms = 12.5, 110.0
    row = next(line for line in report.table([ours, theirs], None, None).splitlines() if "original design" in line)
    assert row.endswith("= 12.0× (≥10×) met; CPU ms/req original / ours = 8.8× |"), row
