"""POST /v1/classify: every input shape, batches, verdicts and the category view."""

from __future__ import annotations

import base64
import io

import pytest
from helpers import CLASSES, IMAGES

JPEG = "astronaut_640x480.jpg"
PNG = "chelsea.png"


def serve(httpserver, name):
    httpserver.expect_request(f"/{name}").respond_with_data((IMAGES / name).read_bytes())
    return httpserver.url_for(f"/{name}")


def b64(name):
    return base64.b64encode((IMAGES / name).read_bytes()).decode()


def assert_matches_golden(item, golden, name):
    for cls in CLASSES:
        assert item["scores"][cls] == pytest.approx(golden["images"][name]["scores"][cls], abs=1e-4)


class TestInputs:
    def test_json_url(self, client, httpserver, golden):
        url = serve(httpserver, JPEG)
        (item,) = client.post("/v1/classify", json={"url": url}).get_json()["results"]
        assert item["source"] == url
        assert_matches_golden(item, golden, JPEG)

    def test_json_urls_in_input_order(self, client, httpserver, golden):
        urls = [serve(httpserver, JPEG), serve(httpserver, PNG)]
        results = client.post("/v1/classify", json={"urls": urls}).get_json()["results"]
        assert [r["source"] for r in results] == urls
        assert_matches_golden(results[0], golden, JPEG)
        assert_matches_golden(results[1], golden, PNG)

    def test_json_base64_image_and_data_url(self, client, golden):
        (item,) = client.post("/v1/classify", json={"image": b64(PNG)}).get_json()["results"]
        assert item["source"] == "image[0]"
        assert_matches_golden(item, golden, PNG)
        data_url = "data:image/png;base64," + b64(PNG)
        (item,) = client.post("/v1/classify", json={"images": [data_url]}).get_json()["results"]
        assert_matches_golden(item, golden, PNG)

    def test_multipart_several_images(self, client, golden):
        data = {
            "image": [
                (io.BytesIO((IMAGES / JPEG).read_bytes()), JPEG),
                (io.BytesIO((IMAGES / PNG).read_bytes()), PNG),
            ]
        }
        response = client.post("/v1/classify", data=data, content_type="multipart/form-data")
        results = response.get_json()["results"]
        assert [r["source"] for r in results] == [JPEG, PNG]
        assert_matches_golden(results[0], golden, JPEG)
        assert_matches_golden(results[1], golden, PNG)

    def test_raw_image_body(self, client, golden):
        response = client.post("/v1/classify", data=(IMAGES / PNG).read_bytes(), content_type="image/png")
        (item,) = response.get_json()["results"]
        assert item["source"] == "body"
        assert_matches_golden(item, golden, PNG)

    @pytest.mark.parametrize(
        "body",
        [{}, {"url": "http://a", "image": "x"}, {"urls": "http://a"}, {"images": [1, 2]}, ["x"]],
    )
    def test_malformed_json_is_invalid_request(self, client, body):
        response = client.post("/v1/classify", json=body)
        assert response.status_code == 400
        assert response.get_json()["error"]["code"] == "invalid_request"

    def test_nothing_to_classify(self, client):
        response = client.post("/v1/classify", data=b"", content_type="image/png")
        assert response.status_code == 400
        assert response.get_json()["error"]["code"] == "missing_url"


class TestBatches:
    def test_one_bad_item_never_fails_the_batch(self, client, httpserver, golden):
        httpserver.expect_request("/gone.jpg").respond_with_data("", status=404)
        urls = [
            serve(httpserver, JPEG),
            httpserver.url_for("/gone.jpg"),
            "http://169.254.169.254/latest/meta-data/",
            "gopher://example.com/",
        ]
        response = client.post("/v1/classify", json={"urls": urls})
        assert response.status_code == 200
        results = response.get_json()["results"]
        assert [r["source"] for r in results] == urls
        assert_matches_golden(results[0], golden, JPEG)
        assert [r["error"]["code"] for r in results[1:]] == ["upstream_status", "blocked_address", "invalid_url"]

    def test_an_empty_url_is_an_invalid_url_not_an_internal_error(self, client):
        for body in ({"url": ""}, {"urls": ["", " "]}):
            results = client.post("/v1/classify", json=body).get_json()["results"]
            assert [r["error"]["code"] for r in results] == ["invalid_url"] * len(results)

    def test_bad_base64_and_non_images_are_item_errors(self, client, golden):
        images = [b64(PNG), "!!! not base64 !!!", base64.b64encode(b"hello").decode()]
        results = client.post("/v1/classify", json={"images": images}).get_json()["results"]
        assert_matches_golden(results[0], golden, PNG)
        assert results[1]["error"]["code"] == "invalid_base64"
        assert results[2]["error"]["code"] == "unsupported_media"

    def test_batch_over_the_cap_is_refused(self, settings):
        from nsfw import create_app

        client = create_app(settings.replace(max_batch=2)).test_client()
        response = client.post("/v1/classify", json={"urls": ["http://a.example/1"] * 3})
        assert response.status_code == 413
        assert response.get_json()["error"]["code"] == "batch_too_large"

    def test_an_image_over_the_byte_cap_is_an_item_error(self, settings):
        from nsfw import create_app

        client = create_app(settings.replace(max_bytes=10_000)).test_client()
        results = client.post("/v1/classify", json={"images": [b64(PNG), b64("drawing_flat.png")]}).get_json()
        assert results["results"][0]["error"]["code"] == "too_large"
        assert "scores" in results["results"][1]

    def test_request_body_over_the_request_cap(self, settings):
        from nsfw import create_app

        client = create_app(settings.replace(max_request_bytes=50_000)).test_client()
        response = client.post("/v1/classify", json={"images": [b64(PNG)]})
        assert response.status_code == 413
        assert response.get_json()["error"]["code"] == "too_large"


class TestResultShape:
    def test_item_carries_everything(self, client, golden):
        (item,) = client.post("/v1/classify", json={"image": b64(JPEG)}).get_json()["results"]
        scores = item["scores"]
        assert item["model"] == "mobilenet_v2"
        assert item["top"] == max(scores, key=scores.get) == "neutral"
        assert item["nsfw"] == pytest.approx(scores["porn"] + scores["hentai"] + scores["sexy"])
        assert item["verdict"] == "safe"
        assert item["frames"] == 1
        assert item["image"] == {"format": "JPEG", "width": 640, "height": 480}
        assert {"decode", "preprocess", "inference"} <= set(item["timing_ms"])
        assert item["cached"] is False

    def test_category_view_maps_our_classes_honestly(self, client):
        (item,) = client.post("/v1/classify", json={"image": b64(PNG)}).get_json()["results"]
        s, cat = item["scores"], item["categories"]
        assert cat["safe"] == pytest.approx(s["neutral"] + s["drawings"])
        assert cat["nsfw"] == pytest.approx(s["porn"] + s["hentai"] + s["sexy"])
        assert cat["subcategories"] == {
            "porn": s["porn"],
            "suggestive": s["sexy"],
            "cartoon_sex": s["hentai"],
            "neutral": s["neutral"],
            "cartoon_neutral": s["drawings"],
        }
        assert "nudity" not in cat["subcategories"]


class TestVerdicts:
    # chelsea.png scores nsfw = 0.068 (golden): safe by default, but not under a strict safe threshold
    def test_default_thresholds(self, client):
        (item,) = client.post("/v1/classify", json={"image": b64(PNG)}).get_json()["results"]
        assert item["verdict"] == "safe"

    def test_per_request_override_in_json(self, client):
        body = {"image": b64(PNG), "safe_threshold": 0.01, "adult_threshold": 0.5}
        (item,) = client.post("/v1/classify", json=body).get_json()["results"]
        assert item["verdict"] == "unknown"

    def test_per_request_override_in_query_string(self, client):
        response = client.post("/v1/classify?safe_threshold=0&adult_threshold=0.05", json={"image": b64(PNG)})
        assert response.get_json()["results"][0]["verdict"] == "adult"

    @pytest.mark.parametrize(
        "query",
        ["safe_threshold=0.9&adult_threshold=0.5", "adult_threshold=1.5", "safe_threshold=-1", "safe_threshold=x"],
    )
    def test_inconsistent_thresholds_are_rejected(self, client, query):
        response = client.post(f"/v1/classify?{query}", json={"image": b64(PNG)})
        assert response.status_code == 400
        assert response.get_json()["error"]["code"] == "invalid_thresholds"

    def test_unknown_model_is_rejected(self, client):
        response = client.post("/v1/classify?model=resnet", json={"image": b64(PNG)})
        assert response.status_code == 400
        assert response.get_json()["error"]["code"] == "unknown_model"


class TestCache:
    def test_same_bytes_twice_is_cached_and_identical(self, client, httpserver):
        first = client.post("/v1/classify", json={"image": b64(PNG)}).get_json()["results"][0]
        # the same picture through another door: a URL
        second = client.post("/v1/classify", json={"url": serve(httpserver, PNG)}).get_json()["results"][0]
        assert first["cached"] is False and second["cached"] is True
        assert first["scores"] == second["scores"]
        assert "fetch" in second["timing_ms"]

    def test_cache_size_zero_disables_it(self, settings):
        from nsfw import create_app

        client = create_app(settings.replace(cache_size=0)).test_client()
        for _ in range(2):
            item = client.post("/v1/classify", json={"image": b64(PNG)}).get_json()["results"][0]
            assert item["cached"] is False
