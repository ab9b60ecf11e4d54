"""Client.hash, hash_many and their AsyncClient twins (POST /v1/hash) against a real service (client_helpers.py).

A module of its own beside test_python_client.py: the same shared gunicorn, the hashes' cases.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import io
import re
import time

import client_helpers
import pytest
from client_helpers import ADULT, IMAGES, MAX_BATCH, SAFE, UNKNOWN, CountingTransport, finish, start
from PIL import Image

from nsfw.protect import keys
from nsfw_client import AsyncClient, Client, HashFrame, HashResult, Pdq, errors

pytestmark = pytest.mark.slow
service = client_helpers.service
image_server = client_helpers.image_server


@pytest.fixture
def client(service: str):
    with Client(service) as c:
        yield c


def animation() -> bytes:
    """A three-frame GIF of three different pictures: three hashes."""
    names = ("astronaut_640x480.jpg", "chelsea.png", "retina.jpg")
    frames = [Image.open(IMAGES / name).convert("RGB").resize((160, 120)) for name in names]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


def test_hash_takes_a_path_bytes_a_file_and_a_url(client: Client, image_server) -> None:
    data = ADULT.read_bytes()
    by_path = client.hash(ADULT)
    by_str = client.hash(str(ADULT))
    by_bytes = client.hash(data)
    with open(ADULT, "rb") as f:
        by_file = client.hash(f)
    by_url = client.hash(image_server.url_for("/adult.png"))
    answers = (by_path, by_str, by_bytes, by_file, by_url)
    assert all(isinstance(r, HashResult) for r in answers)
    assert by_path.source == "chelsea.png" and by_url.source == image_server.url_for("/adult.png")
    assert {r.sha256 for r in answers} == {hashlib.sha256(data).hexdigest()}
    assert {r.pdq for r in answers} == {by_path.pdq}  # the same pixels, the same hash
    assert re.fullmatch(r"[0-9a-f]{64}", by_path.pdq.hash) and 0 <= by_path.pdq.quality <= 100
    assert (by_path.image.format, by_path.image.width, by_path.image.height, by_path.frames) == ("PNG", 451, 300, 1)
    assert by_path.frames_pdq is None and by_path.timeline is None
    assert "scores" not in by_path.raw and by_path.raw["sha256"] == by_path.sha256
    assert by_path.pdq == client.classify(ADULT).pdq  # what classifying computes, without the model
    with pytest.raises(dataclasses.FrozenInstanceError):
        by_path.pdq = Pdq(hash="0" * 64, quality=0)


def test_a_file_object_is_read_from_where_it_stands_and_put_back(client: Client) -> None:
    f = io.BytesIO(b"xx" + SAFE.read_bytes())
    f.seek(2)
    assert client.hash(f).sha256 == hashlib.sha256(SAFE.read_bytes()).hexdigest()
    assert f.tell() == 2


def test_an_animation_answers_each_frames_hash_as_classify_does(client: Client) -> None:
    data = animation()
    hashed = client.hash(data)
    assert hashed.frames == 3 and hashed.frames_pdq is not None and len(hashed.frames_pdq) == 3
    assert hashed.pdq == hashed.frames_pdq[0] and len(set(hashed.frames_pdq)) == 3
    assert hashed.frames_pdq == client.classify(data).frames_pdq


def test_a_video_answers_a_timeline_of_hashes(client: Client) -> None:
    hv = pytest.importorskip("hostile_videos", reason="the `video` extra (PyAV) is not installed")
    data = hv.lossless_h264(list(hv.moving_frames(20, 128, 96)))
    hashed = client.hash(data)
    assert hashed.timeline and all(isinstance(f, HashFrame) for f in hashed.timeline)
    assert hashed.frames == len(hashed.timeline) and hashed.pdq == hashed.timeline[0].pdq
    assert hashed.frames_pdq is None
    classified = client.classify(data).timeline
    assert classified is not None
    assert [(f.t, f.pdq) for f in hashed.timeline] == [(f.t, f.pdq) for f in classified]


def test_errors_are_the_classes_of_their_codes_with_the_request_id(client: Client) -> None:
    with pytest.raises(errors.UnsupportedMedia) as caught:
        client.hash(b"this is not an image")
    assert caught.value.code == "unsupported_media" and caught.value.message
    assert caught.value.request_id and caught.value.status is None  # an item's error: the batch's id, no status
    with pytest.raises(errors.BlockedAddress) as blocked:
        client.hash("http://10.0.0.1/a.png")
    assert blocked.value.code == "blocked_address" and blocked.value.request_id
    with pytest.raises(TypeError):
        client.hash(12345)


def test_hash_many_splits_to_the_server_batch_limit_and_keeps_order(service: str, image_server) -> None:
    sources: list = [ADULT, image_server.url_for("/safe.png"), b"garbage", UNKNOWN, SAFE.read_bytes()]
    sources += [image_server.url_for("/adult.png")] * 2 + [SAFE] * 2
    with Client(service) as client:
        outcomes = client.hash_many(sources, concurrency=3)
        assert client.batch_size == MAX_BATCH  # learnt from the service's batch_too_large
        expected = {path: client.hash(path).pdq for path in (ADULT, SAFE, UNKNOWN)}
    assert isinstance(outcomes[2], errors.UnsupportedMedia) and outcomes[2].request_id
    pdqs = [o.pdq if isinstance(o, HashResult) else o.code for o in outcomes]
    adult, safe, unknown = expected[ADULT], expected[SAFE], expected[UNKNOWN]
    assert pdqs == [adult, safe, "unsupported_media", unknown, safe, adult, adult, safe, safe]


def test_async_client_hashes_the_same(service: str, image_server) -> None:
    async def main() -> tuple:
        async with AsyncClient(service) as client:
            one = await client.hash(ADULT)
            by_url = await client.hash(image_server.url_for("/adult.png"))
            many = await client.hash_many([SAFE, b"nope", image_server.url_for("/unknown.png")] * 2)
            try:
                await client.hash(b"nope")
            except errors.APIError as error:
                return one, by_url, many, error
            raise AssertionError("not an image, and no error")

    one, by_url, many, error = asyncio.run(main())
    with Client(service) as client:
        again = client.hash(ADULT)
        assert (one.sha256, one.pdq) == (again.sha256, again.pdq) and by_url.pdq == one.pdq
        safe, unknown = client.hash(SAFE).pdq, client.hash(UNKNOWN).pdq
    assert [o.pdq if isinstance(o, HashResult) else o.code for o in many] == [safe, "unsupported_media", unknown] * 2
    assert isinstance(error, errors.UnsupportedMedia) and error.request_id


@pytest.fixture(scope="module")
def protected(tmp_path_factory: pytest.TempPathFactory):
    """A service that wants an API key and allows one image a second per caller (hashes count as images)."""
    tmp = tmp_path_factory.mktemp("protected-hash")
    key = keys.new_key()
    (tmp / "keys").write_text(keys.line_for("tests", key) + "\n")
    spool = tmp / "spool"
    spool.mkdir()
    proc = start(spool, NSFW_API_KEYS_FILE=str(tmp / "keys"), NSFW_RATE_LIMIT="1/second")
    yield proc.base_url, key
    finish(proc, spool)


def test_hash_needs_the_key_and_is_retried_after_429_as_classify_is(protected) -> None:
    base, key = protected
    with Client(base) as anonymous, pytest.raises(errors.Unauthorized) as caught:
        anonymous.hash(SAFE)
    assert caught.value.status == 401 and caught.value.request_id
    time.sleep(1.1)  # a fresh window
    with Client(base, api_key=key, retries=0) as impatient, pytest.raises(errors.RateLimited) as limited:
        for _ in range(5):  # a slow answer may open a new window
            impatient.hash(SAFE)
    assert limited.value.status == 429 and limited.value.retry_after is not None and limited.value.request_id
    counting = CountingTransport()
    with Client(base, api_key=key, transport=counting) as patient:
        # one image a second: three in a row cannot all pass at once; each waits its Retry-After
        assert len({patient.hash(SAFE).pdq for _ in range(3)}) == 1
    assert counting.sent > 3 and counting.statuses.count(429) == counting.sent - 3
