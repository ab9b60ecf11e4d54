"""PDQ hashes in the answers: /v1/classify items, POST /v1/hash, and /predict left as it was."""

from __future__ import annotations

import base64
import hashlib
import io

import numpy as np
import pytest
from helpers import IMAGES
from PIL import Image

from nsfw.imaging.decode import decode
from nsfw.imaging.pdq import hash_frame
from nsfw.settings import Settings

JPEG = "astronaut_640x480.jpg"
PNG = "chelsea.png"


def expected(data: bytes) -> list[dict]:
    return [hash_frame(frame).to_dict() for frame in decode(data, Settings()).frames]


def animation() -> bytes:
    frames = [Image.open(IMAGES / name).convert("RGB").resize((160, 120)) for name in (JPEG, PNG, "retina.jpg")]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buf.getvalue()


def test_classify_items_carry_the_hash_of_the_decoded_pixels(client):
    data = (IMAGES / JPEG).read_bytes()
    (item,) = client.post("/v1/classify", json={"image": base64.b64encode(data).decode()}).get_json()["results"]
    assert [item["pdq"]] == expected(data)
    assert len(item["pdq"]["hash"]) == 64 and 50 <= item["pdq"]["quality"] <= 100
    assert "frames_pdq" not in item
    # the cached answer carries the same hash
    (again,) = client.post("/v1/classify", json={"image": base64.b64encode(data).decode()}).get_json()["results"]
    assert again["cached"] and again["pdq"] == item["pdq"]


def test_an_animation_answers_every_classified_frames_hash(client):
    data = animation()
    (item,) = client.post("/v1/classify", data=data, content_type="image/gif").get_json()["results"]
    assert item["frames"] == 3 and item["frames_pdq"] == expected(data)
    assert item["pdq"] in item["frames_pdq"]


def test_hash_answers_what_classify_computes_without_classifying(client, httpserver):
    data = (IMAGES / PNG).read_bytes()
    httpserver.expect_request("/cat.png").respond_with_data(data)
    url = httpserver.url_for("/cat.png")
    results = client.post("/v1/hash", json={"urls": [url, "http://10.0.0.1/private.png"]}).get_json()["results"]
    assert results[0]["source"] == url and [results[0]["pdq"]] == expected(data)
    assert results[0]["sha256"] == hashlib.sha256(data).hexdigest()
    assert results[0]["image"] == {"format": "PNG", "width": 451, "height": 300} and results[0]["frames"] == 1
    assert "scores" not in results[0] and "verdict" not in results[0]
    assert results[1]["error"]["code"] == "blocked_address"
    (classified,) = client.post("/v1/classify", json={"url": url}).get_json()["results"]
    assert classified["pdq"] == results[0]["pdq"]


def test_hash_takes_uploads_and_animations(client):
    data = {"image": [(io.BytesIO((IMAGES / JPEG).read_bytes()), JPEG), (io.BytesIO(animation()), "a.gif")]}
    still, animated = client.post("/v1/hash", data=data, content_type="multipart/form-data").get_json()["results"]
    assert still["source"] == JPEG and [still["pdq"]] == expected((IMAGES / JPEG).read_bytes())
    assert animated["frames"] == 3 and animated["frames_pdq"] == expected(animation())
    assert animated["pdq"] == animated["frames_pdq"][0]


def test_hash_refuses_what_classify_refuses(client):
    response = client.post("/v1/hash", json={})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_request"
    (item,) = client.post("/v1/hash", data=b"not an image", content_type="image/png").get_json()["results"]
    assert item["error"]["code"] == "unsupported_media"
    flat = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 200, 30)).save(flat, "PNG")
    (item,) = client.post("/v1/hash", data=flat.getvalue(), content_type="image/png").get_json()["results"]
    assert item["pdq"]["quality"] == 0  # answered, flagged by its quality: matching ignores it


def test_hash_counts_against_the_rate_limit_an_image_a_unit(make_app):
    client = make_app(rate_limit="3/minute")
    images = [base64.b64encode((IMAGES / PNG).read_bytes()).decode()] * 2
    first = client.post("/v1/hash", json={"images": images})
    assert first.status_code == 200 and first.headers["RateLimit-Remaining"] == "1"
    response = client.post("/v1/hash", json={"images": images})
    assert response.status_code == 429 and response.get_json()["error"]["code"] == "rate_limited"


def test_predict_answers_exactly_the_five_scores_it_did(client, httpserver, golden):
    httpserver.expect_request("/a.jpg").respond_with_data((IMAGES / JPEG).read_bytes())
    body = client.post("/predict", query_string={"url": httpserver.url_for("/a.jpg")}).get_json()
    assert set(body) == {"drawings", "hentai", "neutral", "porn", "sexy"}
    for name, score in body.items():
        assert score == pytest.approx(golden["images"][JPEG]["scores"][name], abs=1e-4)


def test_a_video_timeline_carries_each_frames_hash(client):
    hv = pytest.importorskip("hostile_videos", reason="the `video` extra (PyAV) is not installed")
    frames = list(hv.moving_frames(20, 128, 96))
    data = hv.lossless_h264(frames)
    (item,) = client.post("/v1/classify", data=data, content_type="video/mp4").get_json()["results"]
    timeline = item["timeline"]
    assert timeline and all(len(frame["pdq"]["hash"]) == 64 for frame in timeline)
    assert item["pdq"] in [frame["pdq"] for frame in timeline]
    (hashed,) = client.post("/v1/hash", data=data, content_type="video/mp4").get_json()["results"]
    assert [(f["t"], f["pdq"]) for f in hashed["timeline"]] == [(f["t"], f["pdq"]) for f in timeline]
    first = hash_frame(np.ascontiguousarray(frames[0]))
    assert timeline[0]["pdq"] == first.to_dict()
