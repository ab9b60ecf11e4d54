"""Video through the HTTP API: every input shape, the answers, the caps, and nothing fetched.

Videos are built by the tests with PyAV (tests/hostile_videos.py) and served by a real HTTP
server on 127.0.0.1; the `spool_dir` fixture checks no temporary file is left behind.
"""

from __future__ import annotations

import base64
import io

import pytest
from helpers import CLASSES, IMAGES

pytest.importorskip("av", reason="the `video` extra (PyAV) is not installed")

import hostile_videos as hv  # noqa: E402


@pytest.fixture(scope="module")
def clip():
    return hv.sample(2.0, width=96, height=64)


def assert_error(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == code


def test_predict_by_url_answers_the_five_scores(client, httpserver, clip):
    httpserver.expect_request("/clip.mp4").respond_with_data(clip, content_type="video/mp4")
    response = client.post("/predict", query_string={"url": httpserver.url_for("/clip.mp4")})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert list(response.get_json()) == list(CLASSES)


def test_the_type_says_nothing_the_bytes_decide(client, httpserver, clip):
    httpserver.expect_request("/clip.bin").respond_with_data(clip, content_type="image/jpeg")
    response = client.post("/predict", query_string={"url": httpserver.url_for("/clip.bin")})
    assert response.status_code == 200
    response = client.post("/predict", data=(IMAGES / "astronaut_640x480.jpg").read_bytes(), content_type="video/mp4")
    assert response.status_code == 200  # a JPEG sent as video/mp4 is a JPEG


def test_predict_takes_a_raw_video_body_and_a_multipart_video_or_image_field(client, clip):
    raw = client.post("/predict", data=clip, content_type="video/mp4")
    assert raw.status_code == 200, raw.get_data(as_text=True)
    for field in ("video", "image"):
        response = client.post(
            "/predict", data={field: (io.BytesIO(clip), "clip.mp4")}, content_type="multipart/form-data"
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.get_json() == raw.get_json()


def test_v1_classify_adds_the_video_and_its_timeline(make_app, clip):
    client = make_app(video_frames=4)
    body = {"images": [base64.b64encode(clip).decode()]}
    response = client.post("/v1/classify", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    item = response.get_json()["results"][0]
    assert item["video"] == {
        "duration_s": 2.0,
        "width": 96,
        "height": 64,
        "codec": "h264",
        "frames_classified": 4,
        "frames_decoded": item["video"]["frames_decoded"],
    }
    assert [point["t"] for point in item["timeline"]] == [0.0, 0.5, 1.0, 1.5]
    assert all(set(point["scores"]) == set(CLASSES) for point in item["timeline"])
    assert item["frames"] == 4 and item["image"]["format"] == "MP4"
    worst = max(item["timeline"], key=lambda p: sum(p["scores"][c] for c in ("hentai", "porn", "sexy")))
    assert item["scores"] == worst["scores"]


def test_v1_classify_stops_at_the_first_adult_frame_when_asked(make_app, clip):
    client = make_app(video_frames=4, video_stop_at_adult=True, adult_threshold=0.001, safe_threshold=0.0)
    item = client.post("/v1/classify", data=clip, content_type="video/webm").get_json()["results"][0]
    assert item["verdict"] == "adult"
    assert item["video"]["frames_classified"] == 1 and len(item["timeline"]) == 1


def test_compute_takes_video(client, clip):
    response = client.post("/compute", data={"video": (io.BytesIO(clip), "c.mp4")}, content_type="multipart/form-data")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert set(response.get_json()) == {
        "prediction_category",
        "prediction_subcategory",
        "scores_dict_cat",
        "scores_dict_sub_cat",
    }


def test_videos_have_their_own_byte_cap_and_images_keep_theirs(make_app, httpserver, clip):
    image = (IMAGES / "astronaut_640x480.jpg").read_bytes()
    client = make_app(max_bytes=len(image) - 1, max_video_bytes=len(clip))
    httpserver.expect_request("/clip.mp4").respond_with_data(clip, content_type="video/mp4")
    httpserver.expect_request("/a.jpg").respond_with_data(image, content_type="image/jpeg")
    assert client.post("/predict", query_string={"url": httpserver.url_for("/clip.mp4")}).status_code == 200
    assert client.post("/predict", data=clip, content_type="video/mp4").status_code == 200
    # an image is held to the image cap though the video cap is larger
    assert_error(client.post("/predict", query_string={"url": httpserver.url_for("/a.jpg")}), 413, "too_large")
    assert_error(client.post("/predict", data=image, content_type="image/jpeg"), 413, "too_large")
    smaller = make_app(max_video_bytes=len(clip) - 1)
    response = smaller.post("/predict", query_string={"url": httpserver.url_for("/clip.mp4")})
    assert_error(response, 413, "too_large")
    assert "video" in response.get_json()["error"]["message"]
    assert_error(smaller.post("/predict", data=clip, content_type="video/mp4"), 413, "too_large")


def test_unsupported_codec_is_its_own_415(client):
    response = client.post("/predict", data=hv.sample(1.0, codec="mpeg4"), content_type="video/mp4")
    assert_error(response, 415, "unsupported_codec")


def test_a_mov_referring_to_a_url_fetches_nothing(client, httpserver):
    """The MOV's track lives at an http URL of this very server: it must never be asked for it."""
    movie = hv.external_reference_mov(httpserver.url_for("/elsewhere.mov"))
    httpserver.expect_request("/ref.mov").respond_with_data(movie, content_type="video/quicktime")
    httpserver.expect_request("/elsewhere.mov").respond_with_data(hv.sample(1.0), content_type="video/quicktime")
    response = client.post("/predict", query_string={"url": httpserver.url_for("/ref.mov")})
    assert_error(response, 422, "corrupt_video")
    response = client.post("/predict", data=movie, content_type="video/quicktime")
    assert_error(response, 422, "corrupt_video")
    assert [request.path for request, _ in httpserver.log] == ["/ref.mov"]


def test_a_playlist_fetches_nothing_it_names(client, httpserver):
    segment = httpserver.url_for("/segment.ts")
    playlist = f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n{segment}\n#EXT-X-ENDLIST\n".encode()
    httpserver.expect_request("/list.m3u8").respond_with_data(playlist, content_type="application/vnd.apple.mpegurl")
    httpserver.expect_request("/segment.ts").respond_with_data(hv.sample(1.0), content_type="video/mp2t")
    response = client.post("/predict", query_string={"url": httpserver.url_for("/list.m3u8")})
    assert_error(response, 415, "unsupported_media")
    assert_error(client.post("/predict", data=playlist, content_type="application/x-mpegurl"), 400, "missing_url")
    assert_error(client.post("/predict", data=playlist, content_type="video/mp4"), 415, "unsupported_media")
    assert [request.path for request, _ in httpserver.log] == ["/list.m3u8"]


def test_hostile_videos_get_json_4xx_and_the_app_serves_on(client, clip):
    for data, status, code in [
        (hv.long_declared_mp4(), 413, "video_too_long"),
        (hv.many_streams_mp4(), 422, "video_too_complex"),
        (clip[: len(clip) // 2], 422, "corrupt_video"),
    ]:
        assert_error(client.post("/predict", data=data, content_type="video/mp4"), status, code)
    assert client.post("/predict", data=clip, content_type="video/mp4").status_code == 200
