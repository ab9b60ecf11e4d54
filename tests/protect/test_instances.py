"""Two real gunicorn instances sharing one real Redis: one limit, one cache, and a Redis outage survived."""

from __future__ import annotations

import base64
import io
import os
import subprocess
import time
from pathlib import Path

import gunicorn_helpers
import pytest
import redis_helpers
import requests
from gunicorn_helpers import free_port, stop
from PIL import Image

from nsfw.protect import keys

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
redis_server = redis_helpers.redis_server
killable_redis = redis_helpers.killable_redis


def png(seed: int) -> str:
    """A small PNG of its own for each seed: a cache key no other request shares."""
    image = Image.new("RGB", (32, 32), (seed % 256, seed // 256 % 256, 77))
    out = io.BytesIO()
    image.save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode()


def start(tmp_path: Path, **env) -> subprocess.Popen:
    port = free_port()
    spool = tmp_path / f"spool-{port}"
    spool.mkdir()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("NSFW_")}
    environ.update(PORT=str(port), WEB_CONCURRENCY="1", NSFW_DECODERS="1", NSFW_TMP_DIR=str(spool), **env)
    return gunicorn_helpers.start(environ, port, timeout=60)


@pytest.fixture
def instances(tmp_path):
    """start(**env) twice; both stopped at the end, and each must exit cleanly."""
    started = []

    def pair(**env):
        started.extend([start(tmp_path, **env), start(tmp_path, **env)])
        return started[-2:]

    yield pair
    for proc in started:
        proc.log = stop(proc)
        assert proc.returncode == 0, proc.log


@pytest.fixture(scope="module")
def clients():
    """Two keys, so each test here has a budget of its own."""
    return {name: keys.new_key() for name in ("limit-test", "cache-test")}


@pytest.fixture
def keyed_pair(instances, redis_server, clients, tmp_path):
    path = tmp_path / "keys.txt"
    path.write_text("".join(keys.line_for(name, key) + "\n" for name, key in clients.items()))
    return instances(
        NSFW_API_KEYS_FILE=str(path),
        NSFW_RATE_LIMIT="5/hour",
        NSFW_RATE_LIMIT_STORAGE=redis_server.url,
        NSFW_CACHE_URL=redis_server.url,
    )


def test_two_instances_sharing_one_redis_enforce_one_limit(keyed_pair, clients):
    first, second = keyed_pair
    headers = {"X-API-Key": clients["limit-test"]}
    answers = [requests.get(f"{p.base_url}/v1/models", headers=headers, timeout=10) for p in [first, second] * 3]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert [a.headers["RateLimit-Remaining"] for a in answers] == ["4", "3", "2", "1", "0", "0"]
    refused = answers[-1]
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["RateLimit-Limit"] == "5" and int(refused.headers["RateLimit-Reset"]) >= 0
    assert requests.get(f"{first.base_url}/v1/models", headers=headers, timeout=10).status_code == 429
    # unauthenticated: 401 on both, and the open routes stay open
    for proc in keyed_pair:
        assert requests.get(f"{proc.base_url}/v1/models", timeout=10).status_code == 401
        assert requests.get(f"{proc.base_url}/health", timeout=10).status_code == 200


def test_two_instances_share_the_result_cache(keyed_pair, clients):
    first, second = keyed_pair
    headers = {"Authorization": f"Bearer {clients['cache-test']}"}
    body = {"images": [png(1)]}
    one = requests.post(f"{first.base_url}/v1/classify", json=body, headers=headers, timeout=30).json()["results"][0]
    two = requests.post(f"{second.base_url}/v1/classify", json=body, headers=headers, timeout=30).json()["results"][0]
    assert one["cached"] is False and two["cached"] is True
    assert two["scores"] == one["scores"]


def shared_count(server) -> int:
    """Units counted in Redis so far (the sliding window's counters)."""
    with server.client() as client:
        return sum(int(client.get(name) or 0) for name in client.keys("LIMITS*"))


def test_killing_redis_loses_no_request_and_sharing_resumes_when_it_is_back(instances, killable_redis):
    redis = killable_redis
    first, second = instances(NSFW_RATE_LIMIT="1000/hour", NSFW_RATE_LIMIT_STORAGE=redis.url, NSFW_CACHE_URL=redis.url)
    seed = iter(range(10, 10_000))

    def classify(proc) -> dict:
        response = requests.post(f"{proc.base_url}/v1/classify", json={"images": [png(next(seed))]}, timeout=30)
        assert response.status_code == 200, response.text
        (result,) = response.json()["results"]
        assert "error" not in result, result
        return result

    for proc in [first, second] * 3:
        classify(proc)
    assert shared_count(redis) == 6
    redis.kill()
    for proc in [first, second] * 5:  # every request answered, none failed
        classify(proc)
        assert requests.get(f"{proc.base_url}/v1/models", timeout=10).headers["RateLimit-Limit"] == "1000"

    redis.start()  # empty, as a Redis without persistence restarts
    deadline = time.monotonic() + 60
    with redis.client() as client:
        while not (client.keys("LIMITS*") and client.keys("nsfw:result:*")):
            assert time.monotonic() < deadline, "the instances never went back to Redis"
            for proc in (first, second):
                classify(proc)
            time.sleep(0.5)
    # both instances count in Redis again, and share results again
    deadline = time.monotonic() + 60
    while True:  # each instance rejoins on its own back-off; until both have, the count grows by less
        before = shared_count(redis)
        body = {"images": [png(next(seed))]}
        one = requests.post(f"{first.base_url}/v1/classify", json=body, timeout=30).json()["results"][0]
        two = requests.post(f"{second.base_url}/v1/classify", json=body, timeout=30).json()["results"][0]
        if shared_count(redis) == before + 2 and two["cached"]:
            break
        assert time.monotonic() < deadline, "the instances did not both share Redis again"
        time.sleep(0.5)
    assert one["cached"] is False
    # each outage is logged once per process, not once per request, and so is the recovery
    for log in (stop(first), stop(second)):
        assert log.count("result cache: Redis at") == 2, log  # "failed ..." and "answers again"
        assert log.count("rate limit storage is unreachable") == 1, log
        assert log.count("rate limit storage answers again") == 1, log
