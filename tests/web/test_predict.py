"""POST /predict?url=: the contract existing clients depend on.

The image comes from a real HTTP server on 127.0.0.1; the scores come from the
shipped model and must match what nsfwjs itself computes for the same image.
"""

from __future__ import annotations

import socket

import pytest
from helpers import CLASSES, IMAGES


def serve(httpserver, name, content_type):
    body = (IMAGES / name).read_bytes()
    httpserver.expect_request(f"/{name}").respond_with_data(body, content_type=content_type)
    return httpserver.url_for(f"/{name}")


def golden_images(golden, suffixes):
    return sorted(name for name in golden["images"] if name.lower().endswith(suffixes))


def assert_error(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    body = response.get_json()
    assert body["error"]["code"] == code
    assert body["error"]["message"]


class TestScores:
    def test_jpeg_scores_match_nsfwjs(self, client, httpserver, golden):
        for name in golden_images(golden, (".jpg", ".jpeg")):
            response = client.post("/predict", query_string={"url": serve(httpserver, name, "image/jpeg")})
            assert response.status_code == 200, response.get_data(as_text=True)
            scores = response.get_json()
            assert list(scores) == list(CLASSES)
            expected = golden["images"][name]["scores"]
            for cls in CLASSES:
                assert scores[cls] == pytest.approx(expected[cls], abs=1e-4), (name, cls)

    def test_png_scores_match_nsfwjs(self, client, httpserver, golden):
        names = golden_images(golden, (".png",))
        assert names
        for name in names:
            response = client.post("/predict", query_string={"url": serve(httpserver, name, "image/png")})
            assert response.status_code == 200, response.get_data(as_text=True)
            expected = golden["images"][name]["scores"]
            for cls in CLASSES:
                assert response.get_json()[cls] == pytest.approx(expected[cls], abs=1e-4), (name, cls)

    def test_scores_are_five_probabilities_summing_to_one(self, client, httpserver, golden):
        name = golden_images(golden, (".jpg",))[0]
        scores = client.post("/predict", query_string={"url": serve(httpserver, name, "image/jpeg")}).get_json()
        assert set(scores) == set(CLASSES)
        assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in scores.values())
        assert sum(scores.values()) == pytest.approx(1.0, abs=1e-5)

    def test_content_type_is_ignored_format_comes_from_the_bytes(self, client, httpserver, golden):
        name = golden_images(golden, (".png",))[0]
        url = serve(httpserver, name, "text/plain")
        response = client.post("/predict", query_string={"url": url})
        assert response.status_code == 200


class TestCallerMistakes:
    def test_missing_url(self, client):
        assert_error(client.post("/predict"), 400, "missing_url")

    def test_empty_url(self, client):
        assert_error(client.post("/predict?url="), 400, "missing_url")

    @pytest.mark.parametrize("url", ["not a url", "http://", "ftp://example.com/a.jpg", "file:///etc/passwd"])
    def test_invalid_url(self, client, url):
        assert_error(client.post("/predict", query_string={"url": url}), 400, "invalid_url")

    def test_loopback_is_blocked_without_the_allow_list(self, client, httpserver, app):
        # 127.0.0.1/32 is allowed by the test settings; 127.0.0.2 and localhost's ::1 are not.
        url = f"http://127.0.0.2:{httpserver.port}/a.jpg"
        assert_error(client.post("/predict", query_string={"url": url}), 403, "blocked_address")

    def test_loopback_is_blocked_by_default(self, settings, httpserver):
        from nsfw import create_app

        client = create_app(settings.replace(fetch_allow_nets=())).test_client()
        url = serve(httpserver, "chelsea.png", "image/png")
        assert_error(client.post("/predict", query_string={"url": url}), 403, "blocked_address")
        assert httpserver.log == []

    def test_cloud_metadata_address_is_blocked(self, client):
        url = "http://169.254.169.254/latest/meta-data/"
        assert_error(client.post("/predict", query_string={"url": url}), 403, "blocked_address")


class TestUpstreamFailures:
    def test_upstream_404(self, client, httpserver):
        httpserver.expect_request("/missing.jpg").respond_with_data("nope", status=404)
        response = client.post("/predict", query_string={"url": httpserver.url_for("/missing.jpg")})
        assert_error(response, 502, "upstream_status")

    def test_non_image_body(self, client, httpserver):
        httpserver.expect_request("/page").respond_with_data(
            "<html><body>hello</body></html>", content_type="image/jpeg"
        )
        response = client.post("/predict", query_string={"url": httpserver.url_for("/page")})
        assert_error(response, 415, "unsupported_media")

    def test_corrupt_image(self, client, httpserver):
        body = (IMAGES / "chelsea.png").read_bytes()[:2000]
        httpserver.expect_request("/cut.png").respond_with_data(body, content_type="image/png")
        response = client.post("/predict", query_string={"url": httpserver.url_for("/cut.png")})
        assert_error(response, 422, "corrupt_image")

    def test_oversize_body(self, settings, httpserver):
        from nsfw import create_app

        client = create_app(settings.replace(max_bytes=50_000)).test_client()
        httpserver.expect_request("/big").respond_with_data(b"\xff" * 200_000, content_type="image/jpeg")
        response = client.post("/predict", query_string={"url": httpserver.url_for("/big")})
        assert_error(response, 413, "too_large")

    def test_unreachable_host(self, settings):
        from nsfw import create_app

        with socket.socket() as probe:  # a port nobody listens on
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        client = create_app(settings.replace(fetch_allow_ports=frozenset({port}))).test_client()
        response = client.post("/predict", query_string={"url": f"http://127.0.0.1:{port}/a.jpg"})
        assert_error(response, 502, "fetch_failed")


class TestUploads:
    """Without ?url=, /predict classifies the image sent in the request itself."""

    def test_raw_image_body(self, client, golden):
        name = golden_images(golden, (".png",))[0]
        response = client.post("/predict", data=(IMAGES / name).read_bytes(), content_type="image/png")
        assert response.status_code == 200, response.get_data(as_text=True)
        for cls in CLASSES:
            assert response.get_json()[cls] == pytest.approx(golden["images"][name]["scores"][cls], abs=1e-4)

    def test_multipart_field_image(self, client, golden):
        import io

        name = golden_images(golden, (".jpg",))[0]
        data = {"image": (io.BytesIO((IMAGES / name).read_bytes()), name)}
        response = client.post("/predict", data=data, content_type="multipart/form-data")
        assert response.status_code == 200, response.get_data(as_text=True)
        for cls in CLASSES:
            assert response.get_json()[cls] == pytest.approx(golden["images"][name]["scores"][cls], abs=1e-4)

    def test_stage_timings_in_server_timing_header(self, client, golden):
        name = golden_images(golden, (".png",))[0]
        response = client.post("/predict", data=(IMAGES / name).read_bytes(), content_type="image/png")
        stages = {part.split(";")[0].strip() for part in response.headers["Server-Timing"].split(",")}
        assert {"decode", "preprocess", "inference"} <= stages

    def test_upload_over_the_byte_cap(self, settings):
        from nsfw import create_app

        client = create_app(settings.replace(max_bytes=1000)).test_client()
        response = client.post("/predict", data=b"\xff" * 5000, content_type="image/jpeg")
        assert_error(response, 413, "too_large")

    def test_empty_body_without_url(self, client):
        assert_error(client.post("/predict", data=b"", content_type="image/jpeg"), 400, "missing_url")

    def test_non_image_upload(self, client):
        response = client.post("/predict", data=b"hello world", content_type="image/jpeg")
        assert_error(response, 415, "unsupported_media")
