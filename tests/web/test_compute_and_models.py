"""POST /compute (the Swiss AI Center contract) and GET /v1/models."""

from __future__ import annotations

import hashlib
import io

import pytest
from helpers import IMAGES, TESTS

from nsfw.web import current

PNG = "chelsea.png"


def test_compute_answers_what_the_swiss_ai_center_service_answers(client, golden):
    """Its src/my_service.py: its sub-category names, its categories, its scores as str(float)."""
    data = {"image": (io.BytesIO((IMAGES / PNG).read_bytes()), PNG)}
    response = client.post("/compute", data=data, content_type="multipart/form-data")
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"prediction_category", "prediction_subcategory", "scores_dict_cat", "scores_dict_sub_cat"}
    assert body["prediction_category"] == "safe"
    assert body["prediction_subcategory"] == "safe_general"
    cat, sub = body["scores_dict_cat"], body["scores_dict_sub_cat"]
    assert set(cat) == {"nsfw", "safe"}
    assert set(sub) == {"nsfw_cartoon", "nsfw_porn", "nsfw_suggestive", "safe_cartoon", "safe_general"}
    assert all(isinstance(v, str) for v in (*cat.values(), *sub.values()))
    g = golden["images"][PNG]["scores"]
    expected_sub = {
        "nsfw_cartoon": g["hentai"],
        "nsfw_porn": g["porn"],
        "nsfw_suggestive": g["sexy"],
        "safe_cartoon": g["drawings"],
        "safe_general": g["neutral"],
    }
    for name, value in expected_sub.items():
        assert float(sub[name]) == pytest.approx(value, abs=1e-4), name
    assert float(cat["safe"]) == pytest.approx(g["neutral"] + g["drawings"], abs=1e-4)
    assert float(cat["nsfw"]) == pytest.approx(g["porn"] + g["hentai"] + g["sexy"], abs=1e-4)


def test_compute_never_invents_the_sub_categories_this_model_has_not(client):
    data = {"image": (io.BytesIO((IMAGES / PNG).read_bytes()), PNG)}
    body = client.post("/compute", data=data, content_type="multipart/form-data").get_json()
    assert "nsfw_nudity" not in body["scores_dict_sub_cat"]
    assert "safe_person" not in body["scores_dict_sub_cat"]


def test_compute_scores_are_the_classify_scores_as_strings(client):
    raw = (IMAGES / PNG).read_bytes()
    body = client.post("/compute", data=raw, content_type="image/png").get_json()
    (item,) = client.post("/v1/classify", data=raw, content_type="image/png").get_json()["results"]
    scores = item["scores"]
    assert {k: float(v) for k, v in body["scores_dict_sub_cat"].items()} == {
        "nsfw_cartoon": scores["hentai"],
        "nsfw_porn": scores["porn"],
        "nsfw_suggestive": scores["sexy"],
        "safe_cartoon": scores["drawings"],
        "safe_general": scores["neutral"],
    }
    assert {k: float(v) for k, v in body["scores_dict_cat"].items()} == {
        "nsfw": item["categories"]["nsfw"],
        "safe": item["categories"]["safe"],
    }


def test_compute_without_an_image(client):
    response = client.post("/compute", data={}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "missing_url"


def test_models_lists_what_is_served_with_provenance_and_checksum(client):
    (model,) = client.get("/v1/models").get_json()["models"]
    tflite = TESTS.parent / "model" / "mobilenet_v2.tflite"
    assert model["name"] == "mobilenet_v2" and model["default"] is True
    assert model["input_size"] == 224
    assert model["classes"] == ["drawings", "hentai", "neutral", "porn", "sexy"]
    assert model["sha256"] == hashlib.sha256(tflite.read_bytes()).hexdigest()
    assert model["provenance"]["source"]["package"] == "nsfwjs"
    assert model["provenance"]["source"]["version"] == "4.4.0"


def test_several_models_each_faithful_to_nsfwjs(settings, golden):
    from nsfw import create_app

    client = create_app(settings.replace(models=("mobilenet_v2", "mobilenet_v2_mid"))).test_client()
    listed = client.get("/v1/models").get_json()["models"]
    assert [(m["name"], m["default"]) for m in listed] == [("mobilenet_v2", True), ("mobilenet_v2_mid", False)]
    assert "93%" in listed[1]["accuracy"]
    for name in ("astronaut_640x480.jpg", "chelsea.png", "rocket_exif_orientation6.jpg"):
        data = (IMAGES / name).read_bytes()
        for model in ("mobilenet_v2", "mobilenet_v2_mid"):
            response = client.post(f"/predict?model={model}", data=data, content_type="image/png")
            expected = golden["models"][model]["scores"][name]
            for cls, value in response.get_json().items():
                assert value == pytest.approx(expected[cls], abs=1e-4), (model, name, cls)


def test_a_model_that_is_not_built_stops_start_up(settings):
    from nsfw import create_app
    from nsfw.errors import ModelError

    app = create_app(settings.replace(models=("mobilenet_v2", "no_such_model")))
    with pytest.raises(ModelError):
        current.detector(app).load()


def test_a_model_that_is_not_built_names_the_build_and_what_it_needs(tmp_path):
    from nsfw.errors import ModelError
    from nsfw.models.runner import ModelSpec

    (tmp_path / "manifest.json").write_bytes((TESTS.parent / "model" / "manifest.json").read_bytes())
    with pytest.raises(ModelError) as failure:
        ModelSpec.from_manifest(tmp_path, "inception_v3")
    message = str(failure.value)
    assert "python model/build.py --model inception_v3" in message
    assert "Node.js" in message and "npm" in message and "TensorFlow" in message
