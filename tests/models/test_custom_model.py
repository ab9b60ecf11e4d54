"""Bring your own model: NSFW_MODEL_PATH served as "custom", next to the shipped one.

The Keras case serves the repo's own Keras build of mobilenet_v2 (made here by
model/build.py, on TensorFlow) and must give the .tflite's scores.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from helpers import CLASSES, IMAGES, TESTS

from nsfw import create_app
from nsfw.settings import ConfigError, Settings
from nsfw.web import current

ROOT = TESTS.parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("keras")
    result = subprocess.run(
        [
            sys.executable,
            "model/build.py",
            "--from-tfjs",
            "model/mobilenet_v2",
            "--out",
            str(out / "rebuilt.tflite"),
            "--keras-out",
            str(out / "mobilenet_v2.keras"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return out / "mobilenet_v2.keras"


def scores(client, name, model):
    response = client.post(
        f"/predict?model={model}", data=(IMAGES / name).read_bytes(), content_type="application/octet-stream"
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_keras_model_gives_the_tflite_scores(settings, keras_file):
    app = create_app(settings.replace(model_path=str(keras_file)))
    client = app.test_client()
    assert [m["name"] for m in client.get("/v1/models").get_json()["models"]] == ["mobilenet_v2", "custom"]
    for name in ("astronaut_640x480.jpg", "chelsea.png", "drawing_flat.png"):
        ours, theirs = scores(client, name, "custom"), scores(client, name, "mobilenet_v2")
        for cls in CLASSES:
            assert ours[cls] == pytest.approx(theirs[cls], abs=1e-5), (name, cls)
    described = {m["name"]: m for m in client.get("/v1/models").get_json()["models"]}["custom"]
    assert described["input_size"] == 224 and described["classes"] == list(CLASSES)


def test_custom_tflite_runs_on_litert(settings, tmp_path):
    custom = tmp_path / "mine.tflite"
    shutil.copy(ROOT / "model" / "mobilenet_v2.tflite", custom)
    client = create_app(settings.replace(models=("custom",), model_path=str(custom))).test_client()
    (model,) = client.get("/v1/models").get_json()["models"]
    assert model["name"] == "custom" and model["default"] and model["input_size"] == 224
    assert scores(client, "chelsea.png", "custom") == scores(client, "chelsea.png", "")


def test_a_model_file_that_does_not_match_its_classes_is_refused(settings, tmp_path):
    custom = tmp_path / "mine.tflite"
    shutil.copy(ROOT / "model" / "mobilenet_v2.tflite", custom)
    app = create_app(settings.replace(models=("custom",), model_path=str(custom), model_classes=("safe", "nsfw")))
    with pytest.raises(Exception, match="classes"):
        current.detector(app).load()


def test_custom_needs_a_path():
    with pytest.raises(ConfigError, match="NSFW_MODEL_PATH"):
        Settings.from_env({"NSFW_MODELS": "custom"})
