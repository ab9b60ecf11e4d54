"""The committed model is what model/build.py makes, and it answers what nsfwjs answers.

* every file in model/manifest.json is present with its recorded sha256 and size;
* rebuilding the TFLite model from the committed tfjs files (a real run of
  model/build.py, which needs TensorFlow: the slow test) gives the committed
  model's outputs to 1e-6;
* the committed TFLite model fed by nsfw.preprocess.to_model_input reproduces
  nsfwjs's own scores (tests/golden/golden.json) to 1e-4 for every class.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter
from PIL import Image, ImageOps

from nsfw.preprocess import to_model_input

REPO = Path(__file__).resolve().parent.parent
MODEL_DIR = REPO / "model"
MANIFEST = MODEL_DIR / "manifest.json"
TFLITE = MODEL_DIR / "mobilenet_v2.tflite"
TFJS_DIR = MODEL_DIR / "mobilenet_v2"
IMAGES = REPO / "tests" / "data" / "images"
GOLDEN = REPO / "tests" / "golden" / "golden.json"
CLASSES = ["drawings", "hentai", "neutral", "porn", "sexy"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_tflite(model_path: Path, inputs: list[np.ndarray]) -> np.ndarray:
    interpreter = Interpreter(model_path=str(model_path))
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]["index"]
    out = interpreter.get_output_details()[0]["index"]
    rows = []
    for x in inputs:
        interpreter.set_tensor(inp, x)
        interpreter.invoke()
        rows.append(interpreter.get_tensor(out)[0].copy())
    return np.stack(rows)


def decode(name: str) -> np.ndarray:
    with Image.open(IMAGES / name) as image:
        return np.asarray(ImageOps.exif_transpose(image).convert("RGB"), dtype=np.uint8)


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(MANIFEST.read_text())


@pytest.fixture(scope="module")
def golden_data() -> dict:
    return json.loads(GOLDEN.read_text())


@pytest.fixture(scope="module")
def golden_inputs(golden_data) -> dict[str, np.ndarray]:
    """Each golden image as the model sees it."""
    return {name: to_model_input(decode(name), 224) for name in golden_data["images"]}


class TestManifest:
    def test_every_listed_file_has_its_recorded_hash_and_size(self, manifest):
        assert manifest["files"], "manifest lists no files"
        for relative, expected in manifest["files"].items():
            path = MANIFEST.parent / relative
            assert path.is_file(), relative
            assert path.stat().st_size == expected["bytes"], relative
            assert sha256(path) == expected["sha256"], relative

    def test_lists_the_model_weights_topology_and_licence(self, manifest):
        assert {"mobilenet_v2.tflite", "mobilenet_v2/model.json",
                "mobilenet_v2/group1-shard1of1.bin", "LICENSE.nsfwjs"} <= set(manifest["files"])
        assert manifest["source"]["package"] == "nsfwjs"
        assert manifest["source"]["version"] == "4.4.0"
        assert manifest["classes"] == CLASSES
        assert manifest["input"]["size"] == 224
        assert manifest["input"]["layout"] == "NHWC"

    def test_tflite_model_has_the_recorded_float32_signature(self, manifest):
        interpreter = Interpreter(model_path=str(TFLITE))
        (inp,) = interpreter.get_input_details()
        (out,) = interpreter.get_output_details()
        assert inp["dtype"] == np.float32 and out["dtype"] == np.float32
        assert list(inp["shape"]) == manifest["input"]["shape"] == [1, 224, 224, 3]
        assert list(out["shape"]) == manifest["output"]["shape"] == [1, 5]
        assert inp["name"] == manifest["tflite_tensors"]["input"]["name"]
        assert out["name"] == manifest["tflite_tensors"]["output"]["name"]


class TestTfjsFiles:
    def test_weights_dequantize_in_float64_like_tfjs(self):
        spec = importlib.util.spec_from_file_location("tfjs_to_keras",
                                                      MODEL_DIR / "tfjs_to_keras.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        model_json, weights = module.load_tfjs(TFJS_DIR)
        specs = model_json["weightsManifest"][0]["weights"]
        assert len(weights) == len(specs) == 266
        raw = np.frombuffer((TFJS_DIR / "group1-shard1of1.bin").read_bytes(), dtype=np.uint8)
        assert sum(w.size for w in weights.values()) == raw.size
        # The first weight by hand: q * scale + min in double precision, stored as float32.
        first = specs[0]
        count = int(np.prod(first["shape"]))
        q = first["quantization"]
        expected = (raw[:count].astype(np.float64) * q["scale"] + q["min"]).astype(np.float32)
        np.testing.assert_array_equal(weights[first["name"]].ravel(), expected)


@pytest.mark.slow
def test_rebuild_from_committed_tfjs_files_matches_committed_tflite(tmp_path, golden_inputs):
    """Slow (about 30 s): imports TensorFlow, rebuilds Keras and converts to TFLite."""
    rebuilt = tmp_path / "rebuilt.tflite"
    result = subprocess.run(
        [sys.executable, str(MODEL_DIR / "build.py"), "--from-tfjs", str(TFJS_DIR),
         "--out", str(rebuilt)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    facts = json.loads(result.stdout)
    assert facts["keras_vs_tflite_max_abs_diff"] <= 1e-5

    rng = np.random.default_rng(7)
    random_inputs = [rng.random((1, 224, 224, 3), dtype=np.float32) for _ in range(3)]
    inputs = list(golden_inputs.values()) + random_inputs
    committed = run_tflite(TFLITE, inputs)
    fresh = run_tflite(rebuilt, inputs)
    assert np.abs(fresh - committed).max() <= 1e-6


def test_committed_model_and_preprocessing_reproduce_nsfwjs(golden_data, golden_inputs):
    """Model-level parity with nsfwjs: same pixels in, same five probabilities out."""
    assert golden_data["meta"]["nsfwjs"] == "4.4.0"
    assert golden_data["meta"]["classes"] == CLASSES
    names = list(golden_inputs)
    assert len(names) >= 6
    scores = run_tflite(TFLITE, [golden_inputs[name] for name in names])
    for name, row in zip(names, scores):
        expected = golden_data["images"][name]
        rgb = decode(name)
        assert (rgb.shape[1], rgb.shape[0]) == (expected["width"], expected["height"]), name
        assert hashlib.sha256(rgb.tobytes()).hexdigest() == expected["rgb_sha256"], name
        for cls, value in zip(CLASSES, row):
            assert value == pytest.approx(expected["scores"][cls], abs=1e-4), (name, cls)
