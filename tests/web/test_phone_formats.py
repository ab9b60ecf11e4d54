"""HEIC and AVIF through the HTTP API, their parity with PNG, and NSFW_FAST_DECODE on the golden images.

Real apps, real decoder processes, the shipped model; every file is encoded here from the
committed test images.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
import redis_helpers
from helpers import CLASSES, IMAGES
from hostile_images import avif, heic, heic_grid, with_free_boxes, with_grid_size, with_ispe, with_items
from PIL import Image

from nsfw.settings import Settings

# NSFW_FAST_DECODE's documented bound (docs/performance.md): the largest move of any score
# against nsfwjs on the golden images; measured 0.027 (retina.jpg).
FAST_DECODE_BOUND = 0.03


def rgb(name: str) -> Image.Image:
    with Image.open(IMAGES / name) as image:
        return image.convert("RGB")


def lossless_heic(image: Image.Image) -> bytes:
    return heic(image, quality=-1, chroma=444, matrix_coefficients=0)


def predict(client, data: bytes, content_type: str):
    return client.post("/predict", data=data, content_type=content_type)


def assert_error(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json and response.get_json()["error"]["code"] == code


@pytest.mark.parametrize("content_type", ["image/heic", "image/heif", "application/octet-stream"])
def test_predict_takes_heic(client, content_type):
    response = predict(client, heic(rgb("chelsea.png")), content_type)
    assert response.status_code == 200, response.get_data(as_text=True)
    scores = response.get_json()
    assert list(scores) == list(CLASSES) and sum(scores.values()) == pytest.approx(1.0, abs=1e-5)


def test_predict_takes_avif(client):
    response = predict(client, avif(rgb("chelsea.png")), "image/avif")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert list(response.get_json()) == list(CLASSES)


def test_v1_reports_the_formats(client):
    images = [heic(rgb("chelsea.png")), avif(rgb("chelsea.png"))]
    body = {"images": [base64.b64encode(x).decode() for x in images]}
    results = client.post("/v1/classify", json=body).get_json()["results"]
    assert [r["image"] for r in results] == [
        {"format": "HEIF", "width": 451, "height": 300},
        {"format": "AVIF", "width": 451, "height": 300},
    ]
    assert results[0]["verdict"] == results[1]["verdict"] == "safe"


def test_multipart_and_compute_take_them(client):
    data = avif(rgb("chelsea.png"))
    response = client.post("/predict", data={"image": (io.BytesIO(data), "photo.avif")})
    assert response.status_code == 200, response.get_data(as_text=True)
    response = client.post("/compute", data={"image": (io.BytesIO(heic(rgb("chelsea.png"))), "photo.heic")})
    assert response.status_code == 200 and response.get_json()["prediction_category"] == "safe"


@pytest.mark.parametrize("name", ["chelsea.png", "camera_gray.png", "drawing_flat.png"])
def test_lossless_heic_scores_equal_the_png_and_nsfwjs(client, golden, name):
    """The same pixels give the same scores, whichever container they came in."""
    png = predict(client, (IMAGES / name).read_bytes(), "image/png").get_json()
    same = predict(client, lossless_heic(rgb(name)), "image/heic").get_json()
    assert same == png
    for cls in CLASSES:
        assert same[cls] == pytest.approx(golden["images"][name]["scores"][cls], abs=1e-4)


def test_near_lossless_avif_is_close_to_the_png(client):
    """Pillow's AVIF encoder has no lossless mode (its RGB->YCbCr step rounds, up to 3 levels):
    quality 100 at 4:4:4 moves scores by well under 1e-2."""
    png = predict(client, (IMAGES / "chelsea.png").read_bytes(), "image/png").get_json()
    near = predict(client, avif(rgb("chelsea.png"), quality=100, subsampling="4:4:4"), "image/avif").get_json()
    assert max(abs(near[c] - png[c]) for c in CLASSES) < 1e-2


@pytest.mark.parametrize(
    "body, status, code",
    [
        (with_ispe(heic(Image.new("RGB", (64, 48))), 60000, 60000), 413, "image_too_large"),
        (with_ispe(avif(Image.new("RGB", (64, 48))), 60000, 60000), 413, "image_too_large"),
        (with_grid_size(heic_grid(), 60000, 50000), 413, "image_too_large"),
        (with_free_boxes(heic(Image.new("RGB", (64, 48))), 100_000), 422, "corrupt_image"),
        (with_items(heic(Image.new("RGB", (64, 48))), 5000), 422, "corrupt_image"),
        (heic(Image.new("RGB", (64, 48)))[:300], 422, "corrupt_image"),
        (avif(Image.new("RGB", (64, 48)))[:200], 422, "corrupt_image"),
    ],
    ids=["heic-ispe", "avif-ispe", "heic-grid", "boxes", "items", "heic-truncated", "avif-truncated"],
)
def test_hostile_files_get_their_4xx_and_the_service_goes_on(client, body, status, code):
    assert_error(predict(client, body, "image/heic"), status, code)
    assert predict(client, (IMAGES / "chelsea.png").read_bytes(), "image/png").status_code == 200


def test_heif_over_the_decoders_memory_is_413_before_decoding(make_app):
    """HEIF and AVIF need about 10 bytes a pixel (JPEG: 8); a 2800x2800 declared picture fits a
    128 MB decoder's pixel cap (8.4 MP) but not its memory for HEIF (6.7 MP)."""
    client = make_app(decode_memory_mb=128)
    response = predict(client, with_ispe(heic(Image.new("RGB", (64, 48))), 2800, 2800), "image/heic")
    assert_error(response, 413, "image_too_large")
    assert "needs more memory" in response.get_json()["error"]["message"]


# --- NSFW_FAST_DECODE ------------------------------------------------------------------------------
def test_fast_decode_is_off_by_default():
    assert Settings().fast_decode is False
    assert Settings.from_env({}).fast_decode is False
    assert Settings.from_env({"NSFW_FAST_DECODE": "1"}).fast_decode is True


def test_default_path_is_exact_and_fast_mode_stays_within_its_bound(client, make_app, golden):
    fast = make_app(fast_decode=True)
    moved = {}
    for name, expected in golden["images"].items():
        body = (IMAGES / name).read_bytes()
        exact = predict(client, body, "image/*").get_json()
        quick = predict(fast, body, "image/*").get_json()
        for cls in CLASSES:
            assert exact[cls] == pytest.approx(expected["scores"][cls], abs=1e-4), (name, cls)
        moved[name] = max(abs(quick[c] - expected["scores"][c]) for c in CLASSES)
        if not name.lower().endswith((".jpg", ".jpeg")):  # only JPEG has a reduced decode
            assert quick == exact, name
    assert max(moved.values()) <= FAST_DECODE_BOUND, moved
    assert moved["retina.jpg"] > 1e-3  # 1411x1411: decoded at half size, so it did change


def test_fast_mode_reports_the_files_own_size(make_app):
    fast = make_app(fast_decode=True)
    image = Image.fromarray(np.zeros((1600, 2400, 3), np.uint8))
    buf = io.BytesIO()
    image.save(buf, "JPEG")
    body = {"image": base64.b64encode(buf.getvalue()).decode()}
    (result,) = fast.post("/v1/classify", json=body).get_json()["results"]
    assert result["image"] == {"format": "JPEG", "width": 2400, "height": 1600}


redis_server = redis_helpers.redis_server  # a real redis-server for this module


def test_fast_and_exact_results_are_never_shared_through_redis(make_app, redis_server):
    """Instances sharing one Redis may differ in NSFW_FAST_DECODE: each must get its own scores."""
    exact = make_app(cache_url=redis_server.url)
    fast = make_app(cache_url=redis_server.url, fast_decode=True)
    body = {"image": base64.b64encode((IMAGES / "retina.jpg").read_bytes()).decode()}
    first = exact.post("/v1/classify", json=body).get_json()["results"][0]
    quick = fast.post("/v1/classify", json=body).get_json()["results"][0]
    assert not quick["cached"] and quick["scores"] != first["scores"]
    again = make_app(cache_url=redis_server.url).post("/v1/classify", json=body).get_json()["results"][0]
    assert again["cached"] and again["scores"] == first["scores"]  # exact instances still share
