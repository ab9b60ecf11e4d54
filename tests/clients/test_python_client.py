"""nsfw_client.Client and AsyncClient against a real service (tests/clients/conftest.py)."""

from __future__ import annotations

import asyncio
import io
import os
import random
import subprocess
import sys
import time

import client_helpers
import httpx
import pytest
from client_helpers import ADULT, MAX_BATCH, ROOT, SAFE, UNKNOWN, finish, start
from gunicorn_helpers import free_port
from PIL import Image

from nsfw.protect import keys
from nsfw_client import AsyncClient, Client, Guard, Result, errors

pytestmark = pytest.mark.slow
service = client_helpers.service
image_server = client_helpers.image_server


@pytest.fixture
def client(service: str):
    with Client(service) as c:
        yield c


def test_classify_takes_a_path_bytes_a_file_and_a_url(client: Client, image_server) -> None:
    by_path = client.classify(ADULT)
    by_str = client.classify(str(UNKNOWN))
    by_bytes = client.classify(SAFE.read_bytes())
    with open(ADULT, "rb") as f:
        by_file = client.classify(f)
    by_url = client.classify(image_server.url_for("/adult.png"))
    assert [r.verdict for r in (by_path, by_str, by_bytes, by_file, by_url)] == [
        "adult",
        "unknown",
        "safe",
        "adult",
        "adult",
    ]
    assert by_path.source == "chelsea.png" and by_url.source == image_server.url_for("/adult.png")
    assert set(by_path.scores) == {"drawings", "hentai", "neutral", "porn", "sexy"}
    assert by_path.nsfw == pytest.approx(sum(by_path.scores[k] for k in ("hentai", "porn", "sexy")))
    assert (by_path.image.format, by_path.image.width) == ("PNG", 451)
    assert by_path.video is None and by_path.timeline is None and by_path.raw["source"] == "chelsea.png"
    assert by_path.pdq is not None and len(by_path.pdq.hash) == 64 and 0 <= by_path.pdq.quality <= 100
    assert by_path.pdq == by_file.pdq  # the same bytes, the same hash


def test_a_file_object_is_read_from_where_it_stands_and_put_back(client: Client) -> None:
    f = io.BytesIO(b"xx" + SAFE.read_bytes())
    f.seek(2)
    assert client.classify(f).verdict == "safe"
    assert f.tell() == 2


def test_thresholds_and_model_per_call(client: Client) -> None:
    result = client.classify(SAFE, adult_threshold=0.0001, safe_threshold=0.0, model="mobilenet_v2")
    assert (result.verdict, result.model) == ("adult", "mobilenet_v2")


def test_errors_are_one_class_per_code_with_message_and_request_id(client: Client) -> None:
    with pytest.raises(errors.UnsupportedMedia) as caught:
        client.classify(b"this is not an image")
    assert caught.value.code == "unsupported_media" and caught.value.message
    assert caught.value.request_id  # the batch's X-Request-ID: the line in the service's log
    with pytest.raises(errors.UnknownModel) as whole:
        client.classify(SAFE, model="no-such-model")
    assert whole.value.status == 400 and whole.value.request_id
    with pytest.raises(errors.InvalidThresholds):
        client.classify(SAFE, adult_threshold=0.1, safe_threshold=0.5)
    with pytest.raises(errors.BlockedAddress):
        client.classify("http://10.0.0.1/a.png")


def test_classify_many_splits_to_the_server_batch_limit_and_keeps_order(service: str, image_server) -> None:
    sources: list = [ADULT, image_server.url_for("/safe.png"), b"garbage", UNKNOWN, SAFE.read_bytes()]
    sources += [image_server.url_for("/adult.png")] * 4 + [SAFE] * 3
    with Client(service) as client:
        assert client.batch_size == 16
        outcomes = client.classify_many(sources, concurrency=3)
        assert client.batch_size == MAX_BATCH  # learnt from the service's batch_too_large
    verdicts = [o.verdict if isinstance(o, Result) else o.code for o in outcomes]
    assert verdicts == ["adult", "safe", "unsupported_media", "unknown", "safe"] + ["adult"] * 4 + ["safe"] * 3
    assert isinstance(outcomes[2], errors.UnsupportedMedia)


def test_predict_url_health_ready_and_models(client: Client, image_server) -> None:
    scores = client.predict_url(image_server.url_for("/adult.png"))
    assert set(scores) == {"drawings", "hentai", "neutral", "porn", "sexy"}
    assert client.health() and client.ready()
    assert client.models()[0]["name"] == "mobilenet_v2"
    with pytest.raises(errors.InvalidUrl):
        client.predict_url("not a url")


def test_a_service_that_is_not_there() -> None:
    with Client(f"http://127.0.0.1:{free_port()}", retries=1) as down:
        assert down.health() is False
        with pytest.raises(errors.ServiceUnreachable):
            down.classify(SAFE)


def test_async_client_has_the_same_surface(service: str, image_server) -> None:
    async def main() -> tuple:
        async with AsyncClient(service) as client:
            one = await client.classify(ADULT)
            many = await client.classify_many([SAFE, UNKNOWN, b"nope", image_server.url_for("/adult.png")] * 2)
            health = await client.health()
            scores = await client.predict_url(image_server.url_for("/safe.png"))
            return one, many, health, scores

    one, many, health, scores = asyncio.run(main())
    assert one.verdict == "adult" and health and set(scores) == {"drawings", "hentai", "neutral", "porn", "sexy"}
    expected = ["safe", "unknown", "unsupported_media", "adult"] * 2
    assert [o.verdict if isinstance(o, Result) else o.code for o in many] == expected


@pytest.fixture(scope="module")
def protected(tmp_path_factory: pytest.TempPathFactory):
    """A service that wants an API key and allows one image a second per caller."""
    tmp = tmp_path_factory.mktemp("protected")
    key = keys.new_key()
    (tmp / "keys").write_text(keys.line_for("tests", key) + "\n")
    spool = tmp / "spool"
    spool.mkdir()
    proc = start(spool, NSFW_API_KEYS_FILE=str(tmp / "keys"), NSFW_RATE_LIMIT="1/second")
    yield proc.base_url, key
    finish(proc, spool)


def test_api_key_and_unauthorized(protected) -> None:
    base, key = protected
    with Client(base) as anonymous, pytest.raises(errors.Unauthorized) as caught:
        anonymous.classify(SAFE)
    assert caught.value.status == 401 and caught.value.request_id
    time.sleep(1.1)
    with Client(base, api_key=key) as client:
        assert client.classify(SAFE).verdict == "safe"


def test_rate_limited_is_retried_after_retry_after_within_the_cap(protected) -> None:
    base, key = protected
    time.sleep(1.1)  # a fresh window
    with Client(base, api_key=key, retries=0) as impatient, pytest.raises(errors.RateLimited) as caught:
        for _ in range(5):  # a slow answer (a fresh worker's first) may open a new window
            impatient.classify(SAFE)
    assert caught.value.status == 429 and caught.value.retry_after is not None and caught.value.request_id
    with Client(base, api_key=key, max_retry_after=0.5) as capped, pytest.raises(errors.RateLimited):
        capped.classify(SAFE)  # Retry-After asks for more than the cap: raised at once
    counting = CountingTransport()
    with Client(base, api_key=key, transport=counting) as patient:
        # one image a second: three in a row cannot all pass at once; each waits its Retry-After
        assert [patient.classify(SAFE).verdict for _ in range(3)] == ["safe"] * 3
    assert counting.sent > 3 and counting.statuses.count(429) == counting.sent - 3


class CountingTransport(httpx.HTTPTransport):
    """httpx's own transport, counting what it sends and the statuses it gets."""

    def __init__(self) -> None:
        super().__init__()
        self.sent, self.statuses = 0, []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent += 1
        response = super().handle_request(request)
        self.statuses.append(response.status_code)
        return response


def noise_png(seed: int, side: int = 1000) -> bytes:
    """A PNG of noise, its own for each seed (never a cache hit), slow enough to decode to keep a decoder busy."""
    rng = random.Random(seed)
    image = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=1)
    return out.getvalue()


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory):
    """A service with one decoder and no queue: a batch's items beyond it are answered `overloaded`."""
    tmp = tmp_path_factory.mktemp("busy")
    proc = start(tmp, NSFW_DECODERS="1", NSFW_QUEUE_DEPTH="0")
    yield proc.base_url
    finish(proc, tmp)


def test_items_refused_as_overloaded_are_sent_again(busy: str) -> None:
    images = [noise_png(seed) for seed in range(8)]
    with Client(busy, retries=0) as impatient:
        first = impatient.classify_many(images[:4], concurrency=2)
    assert any(isinstance(o, errors.Overloaded) for o in first), "the service was never busy: nothing tested"
    with Client(busy, retries=6) as patient:
        outcomes = patient.classify_many(images[4:], concurrency=2)
    assert all(isinstance(o, Result) for o in outcomes), [getattr(o, "code", None) for o in outcomes]


@pytest.fixture(scope="module")
def listing(tmp_path_factory: pytest.TempPathFactory, service: str):
    """A service with a `reject` hash list holding coffee_224x224.png's PDQ hash."""
    with Client(service) as client:
        pdq = client.classify(SAFE).pdq
    assert pdq is not None
    data = tmp_path_factory.mktemp("known")
    (data / "takedowns.txt").write_text(pdq.hash + "\n")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("NSFW_")} | {"NSFW_DATA_DIR": str(data)}
    command = [sys.executable, "-m", "nsfw", "hashes", "import", "takedowns", str(data / "takedowns.txt")]
    subprocess.run([*command, "--action", "reject"], cwd=ROOT, env=environ, check=True, capture_output=True)
    spool = tmp_path_factory.mktemp("listing-spool")
    proc = start(spool, NSFW_DATA_DIR=str(data), NSFW_REVIEW="unknown")  # the lists live in the review database
    yield proc.base_url
    finish(proc, spool)


def test_listed_content_is_its_class_with_the_match_and_the_guard_refuses_it(listing: str) -> None:
    with Client(listing) as client:
        with pytest.raises(errors.ListedContent) as caught:
            client.classify(SAFE)
        assert caught.value.match is not None and caught.value.request_id
        assert (caught.value.match["source"], caught.value.match["list"]) == ("list", "takedowns")
        [item] = client.classify_many([SAFE.read_bytes()])
        assert isinstance(item, errors.ListedContent) and item.match is not None
        decision = Guard(client, fail="open").check(SAFE.read_bytes())
    assert (decision.allowed, decision.code) == (False, "nsfw_listed")
