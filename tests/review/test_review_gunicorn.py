"""The review queue under real gunicorn: workers and instances share one queue and remember decisions.

SQLite: one instance, two workers writing the same file (WAL, busy timeout). PostgreSQL: two
instances of two workers each on one real server. Requests go out concurrently, each on a
connection of its own, so both workers of an instance take part.
"""

from __future__ import annotations

import io
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import gunicorn_helpers
import pytest
import requests
import review_helpers
from gunicorn_helpers import free_port, stop
from PIL import Image
from review_helpers import bearer

pytestmark = pytest.mark.slow
postgres_server = review_helpers.postgres_server
reviewers_file = review_helpers.reviewers_file
SIGHTINGS = 24


def png(seed: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (48, 32), (seed, 200 - seed, 90)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def start(tmp_path):
    """start(**env): a gunicorn of two workers with the review queue on; all stopped cleanly at the end."""
    started = []

    def run(**env) -> subprocess.Popen:
        port = free_port()
        # NSFW_CACHE_SIZE 0: every request classifies and is a sighting of its own
        environ = gunicorn_helpers.review_environ(port, tmp_path, NSFW_CACHE_SIZE="0", **env)
        started.append(gunicorn_helpers.start(environ, port, timeout=90))
        return started[-1]

    yield run
    for proc in started:
        log = stop(proc)
        assert proc.returncode == 0, log


def classify(base_url: str, image: bytes) -> dict:
    response = requests.post(
        f"{base_url}/v1/classify",
        data=image,
        headers={"Content-Type": "image/png", "Connection": "close"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()["results"][0]


def wait_for_item(base_url: str, seen: int) -> dict:
    """The one queued item once the writers have counted ``seen`` sightings (they write off the request path)."""
    deadline = time.monotonic() + 60
    while True:
        items = requests.get(f"{base_url}/v1/review/items", headers=bearer(), timeout=10).json()["items"]
        assert len(items) <= 1, items
        if items and items[0]["seen_count"] >= seen:
            assert items[0]["seen_count"] == seen
            return items[0]
        assert time.monotonic() < deadline, f"queued: {items}"
        time.sleep(0.2)


def sightings(bases: list[str], image: bytes) -> list[dict]:
    with ThreadPoolExecutor(12) as pool:
        return list(pool.map(lambda n: classify(bases[n % len(bases)], image), range(SIGHTINGS)))


def decide_and_check_every_worker_remembers(bases: list[str], image: bytes, item_id: int) -> None:
    response = requests.post(
        f"{bases[0]}/v1/review/items/{item_id}/decision", json={"decision": "adult"}, headers=bearer(), timeout=10
    )
    assert response.status_code == 200, response.text
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda n: classify(bases[n % len(bases)], image), range(16)))
    assert {(a["verdict"], a["decided_by"]) for a in answers} == {("adult", "review")}


def test_two_workers_on_sqlite_queue_an_image_once_and_remember_its_decision(start, tmp_path, reviewers_file):
    database = tmp_path / "data" / "nsfw.db"
    proc = start(NSFW_DATA_DIR=str(database.parent), NSFW_REVIEWERS_FILE=reviewers_file)
    image = png(1)
    assert {a["decided_by"] for a in sightings([proc.base_url], image)} == {"model"}
    item = wait_for_item(proc.base_url, SIGHTINGS)
    decide_and_check_every_worker_remembers([proc.base_url], image, item["id"])
    assert database.exists() and Path(f"{database}-wal").exists()  # WAL mode: readers never wait


def test_two_instances_sharing_postgresql_queue_once_and_remember_decisions(start, postgres_server, reviewers_file):
    env = {
        "NSFW_DATABASE_URL": postgres_server.fresh_url(),
        "NSFW_DB_AUTO_MIGRATE": "1",  # two workers start at once: the migration lock makes them take turns
        "NSFW_REVIEWERS_FILE": reviewers_file,
    }
    first, second = start(**env), start(**env)
    bases = [first.base_url, second.base_url]
    image = png(2)
    sightings(bases, image)
    item = wait_for_item(second.base_url, SIGHTINGS)
    decide_and_check_every_worker_remembers(bases, image, item["id"])
