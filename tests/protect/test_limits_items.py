"""Rate limits count every classified item, whatever its multipart field, and a video by its frames.

An image costs one unit; a video costs NSFW_VIDEO_FRAMES (here 4), the model runs it may take.
Videos are built by the tests with PyAV and served by a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import base64
import io

import pytest
from helpers import IMAGES

pytest.importorskip("av", reason="the `video` extra (PyAV) is not installed")

import hostile_videos as hv  # noqa: E402

PNG = (IMAGES / "chelsea.png").read_bytes()
FRAMES = 4


@pytest.fixture(scope="module")
def clip():
    return hv.sample(2.0, width=96, height=64)


def remaining(response) -> int:
    return int(response.headers["RateLimit-Remaining"])


def multipart(field: str, data: bytes, count: int) -> dict:
    return {field: [(io.BytesIO(data), f"{i}.bin") for i in range(count)]}


@pytest.mark.parametrize("field", ["image", "video", "file", "x"])
def test_a_16_item_batch_spends_16_under_any_field_name(make_app, field):
    client = make_app(rate_limit="1000/hour", video_frames=FRAMES)
    response = client.post("/v1/classify", data=multipart(field, PNG, 16), content_type="multipart/form-data")
    assert remaining(response) <= 1000 - 16, response.get_json()


def test_16_video_fields_spend_each_video_s_frames(make_app, clip):
    client = make_app(rate_limit="1000/hour", video_frames=FRAMES)
    response = client.post("/v1/classify", data=multipart("video", clip, 16), content_type="multipart/form-data")
    assert response.status_code == 200
    results = response.get_json()["results"]
    assert len(results) == 16 and all(r["video"]["frames_classified"] == FRAMES for r in results)
    assert remaining(response) == 1000 - 16 * FRAMES


def test_a_video_batch_over_what_is_left_is_refused_before_any_work(make_app, clip):
    client = make_app(rate_limit="20/hour", video_frames=FRAMES)
    refused = client.post("/v1/classify", data=multipart("video", clip, 6), content_type="multipart/form-data")
    assert refused.status_code == 429 and refused.get_json()["error"]["code"] == "rate_limited"
    assert (
        remaining(client.post("/v1/classify", data=multipart("video", clip, 5), content_type="multipart/form-data"))
        == 0
    )


def test_every_shape_of_video_costs_its_frames(make_app, httpserver, clip):
    httpserver.expect_request("/clip.mp4").respond_with_data(clip, content_type="video/mp4")
    url = httpserver.url_for("/clip.mp4")
    client = make_app(rate_limit="1000/hour", video_frames=FRAMES)
    spent = [
        client.post("/predict", data=clip, content_type="video/mp4"),
        client.post("/predict", data=multipart("image", clip, 1), content_type="multipart/form-data"),
        client.post("/compute", data=multipart("video", clip, 1), content_type="multipart/form-data"),
        client.post("/v1/classify", json={"images": [base64.b64encode(clip).decode()]}),
        client.post("/v1/classify", data=clip, content_type="application/octet-stream"),
        client.post("/predict", query_string={"url": url}),  # one unit before, the rest after
        client.post("/v1/classify", json={"urls": [url, url]}),
        client.post("/predict", data=PNG, content_type="image/png"),
    ]
    assert [a.status_code for a in spent] == [200] * len(spent)
    left = [remaining(a) for a in spent]
    assert [before - after for before, after in zip([1000, *left], left, strict=False)] == [FRAMES] * 6 + [
        2 * FRAMES,
        1,
    ]


def test_a_url_video_spends_no_more_than_is_left(make_app, httpserver, clip):
    httpserver.expect_request("/clip.mp4").respond_with_data(clip, content_type="video/mp4")
    client = make_app(rate_limit="2/hour", video_frames=FRAMES)
    answer = client.post("/predict", query_string={"url": httpserver.url_for("/clip.mp4")})
    assert answer.status_code == 200 and remaining(answer) == 0
    assert client.post("/predict", data=PNG, content_type="image/png").status_code == 429
