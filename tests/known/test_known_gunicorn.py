"""Known content under real gunicorn: two instances of two workers sharing one PostgreSQL. A decision made
through one instance, and a list put through the other, reach every worker within 10 s (NSFW_MATCH_REFRESH_S
0.5 here), with no restart."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import gunicorn_helpers
import pytest
import requests
import review_helpers
from gunicorn_helpers import free_port, stop
from images import IMAGES, variants
from review_helpers import bearer

pytestmark = pytest.mark.slow
postgres_server = review_helpers.postgres_server
reviewers_file = review_helpers.reviewers_file
WITHIN_S = 10.0


@pytest.fixture
def instances(tmp_path, postgres_server, reviewers_file):
    started = []
    database = postgres_server.fresh_url()
    for _ in range(2):
        port = free_port()
        environ = gunicorn_helpers.review_environ(
            port,
            tmp_path,
            NSFW_DATABASE_URL=database,
            NSFW_DB_AUTO_MIGRATE="1",
            NSFW_REVIEWERS_FILE=reviewers_file,
            NSFW_MATCH_REFRESH_S="0.5",
        )
        started.append(gunicorn_helpers.start(environ, port, timeout=90))
    yield [proc.base_url for proc in started]
    for proc in started:
        log = stop(proc)
        assert proc.returncode == 0, log


def post(base: str, path: str, data: bytes) -> requests.Response:
    headers = {"Content-Type": "application/octet-stream", "Connection": "close"}  # a new connection: any worker
    return requests.post(f"{base}{path}", data=data, headers=headers, timeout=30)


def everywhere(bases: list[str], path: str, data: bytes) -> list[requests.Response]:
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda n: post(bases[n % len(bases)], path, data), range(16)))


def until(check, what: str) -> float:
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < WITHIN_S, what
        time.sleep(0.2)
    return time.monotonic() - started


def test_a_decision_and_a_list_reach_every_worker_of_every_instance(instances):
    cat, person = (IMAGES / "chelsea.png").read_bytes(), (IMAGES / "astronaut_640x480.jpg").read_bytes()
    first, second = instances
    assert post(first, "/v1/classify", cat).json()["results"][0]["decided_by"] == "model"
    until(lambda: requests.get(f"{first}/v1/review/items", headers=bearer(), timeout=10).json()["items"], "queued")
    item = requests.get(f"{second}/v1/review/items", headers=bearer(), timeout=10).json()["items"][0]
    decided = requests.post(
        f"{first}/v1/review/items/{item['id']}/decision", json={"decision": "adult"}, headers=bearer(), timeout=10
    )
    assert decided.status_code == 200
    copy = variants(IMAGES / "chelsea.png")["resized 50%"]

    def followed() -> bool:
        answers = [r.json()["results"][0] for r in everywhere(instances, "/v1/classify", copy)]
        return all(a.get("match", {}).get("item") == item["id"] and a["verdict"] == "adult" for a in answers)

    until(followed, "a worker did not follow the decision within 10 s")

    digest = post(second, "/v1/hash", person).json()["results"][0]["pdq"]["hash"]
    put = requests.put(f"{second}/v1/lists/takedowns?action=reject", data=digest, headers=bearer(), timeout=10)
    assert put.status_code == 200
    refused_copy = variants(IMAGES / "astronaut_640x480.jpg")["jpeg q50"]

    def refused() -> bool:
        answers = everywhere(instances, "/predict", refused_copy)
        return all(r.status_code == 403 and r.json()["error"]["code"] == "listed_content" for r in answers)

    until(refused, "a worker did not refuse the listed image within 10 s")
