"""The committed models are what model/build.py makes, and they answer what nsfwjs answers.

For each shipped model (mobilenet_v2, the default, and mobilenet_v2_mid):

* every committed file in model/manifest.json is present with its recorded
  sha256 and size, and ModelSpec.from_manifest reads the model's entry;
* rebuilding the TFLite model from the committed tfjs files (a real run of
  model/build.py, which needs TensorFlow: the slow tests) gives the committed
  model's outputs to 1e-6;
* the committed TFLite model fed by nsfw.imaging.preprocess.to_model_input reproduces
  nsfwjs's own scores for that model (tests/golden/golden.json) to 1e-4 for
  every class of every image.

inception_v3 is optional (built locally, never committed): the manifest
describes it and ModelSpec refuses it with a "not built" error when its file
is absent. Its parity with nsfwjs is checked by model/build.py itself.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter
from PIL import Image, ImageOps

from nsfw.errors import ModelError
from nsfw.imaging.preprocess import to_model_input
from nsfw.models.runner import ModelSpec

REPO = Path(__file__).resolve().parents[2]
MODEL_DIR = REPO / "model"
MANIFEST = MODEL_DIR / "manifest.json"
IMAGES = REPO / "tests" / "data" / "images"
GOLDEN = REPO / "tests" / "golden" / "golden.json"
CLASSES = ["drawings", "hentai", "neutral", "porn", "sexy"]
SHIPPED = ["mobilenet_v2", "mobilenet_v2_mid"]
SHARDS = {
    "mobilenet_v2": ["group1-shard1of1.bin"],
    "mobilenet_v2_mid": ["group1-shard1of2.bin", "group1-shard2of2.bin"],
}
SIZES = {"mobilenet_v2": 224, "mobilenet_v2_mid": 224, "inception_v3": 299}


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


def load_model_module(name: str):
    spec = importlib.util.spec_from_file_location(name, MODEL_DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(MANIFEST.read_text())


@pytest.fixture(scope="module")
def golden_data() -> dict:
    return json.loads(GOLDEN.read_text())


@pytest.fixture(scope="module")
def golden_inputs(golden_data) -> dict[str, np.ndarray]:
    """Each golden image as the 224x224 models see it."""
    return {name: to_model_input(decode(name), 224) for name in golden_data["images"]}


class TestManifest:
    def test_every_committed_file_has_its_recorded_hash_and_size(self, manifest):
        committed = {k: v for k, v in manifest["files"].items() if not v.get("optional")}
        assert committed, "manifest lists no files"
        for relative, expected in committed.items():
            path = MANIFEST.parent / relative
            assert path.is_file(), relative
            assert path.stat().st_size == expected["bytes"], relative
            assert sha256(path) == expected["sha256"], relative

    def test_only_the_inception_model_is_optional(self, manifest):
        optional = {k: v for k, v in manifest["files"].items() if v.get("optional")}
        assert list(optional) == ["inception_v3.tflite"]
        assert optional["inception_v3.tflite"]["committed"] is False
        assert "build.py --model inception_v3" in optional["inception_v3.tflite"]["note"]
        ignored = (REPO / ".gitignore").read_text().split()
        assert {"model/inception_v3.tflite", "model/inception_v3/"} <= set(ignored)

    def test_lists_every_model_with_its_files_and_the_licence(self, manifest):
        assert manifest["source"]["package"] == "nsfwjs"
        assert manifest["source"]["version"] == "4.4.0"
        assert manifest["default_model"] == "mobilenet_v2"
        assert set(manifest["models"]) == set(SIZES)
        assert "LICENSE.nsfwjs" in manifest["files"]
        for name, size in SIZES.items():
            entry = manifest["models"][name]
            assert entry["file"] == f"{name}.tflite" in manifest["files"]
            assert entry["shipped"] is (name in SHIPPED)
            assert entry["classes"] == entry["output"]["order"] == CLASSES
            assert entry["input"]["size"] == size and entry["input"]["layout"] == "NHWC"
            assert entry["accuracy_note"] and entry["preprocessing"]["resize"]
        for name in SHIPPED:
            tfjs = manifest["models"][name]["source_files"]["tfjs"]
            assert set(tfjs) == {f"{name}/model.json"} | {f"{name}/{s}" for s in SHARDS[name]}
            assert set(tfjs) <= set(manifest["files"])
            assert manifest["models"][name]["build"]["nsfwjs_parity"]["max_abs_diff"] <= 1e-4

    @pytest.mark.parametrize("name", SHIPPED)
    def test_tflite_model_has_the_recorded_float32_signature(self, manifest, name):
        entry = manifest["models"][name]
        interpreter = Interpreter(model_path=str(MODEL_DIR / entry["file"]))
        (inp,) = interpreter.get_input_details()
        (out,) = interpreter.get_output_details()
        assert inp["dtype"] == np.float32 and out["dtype"] == np.float32
        assert list(inp["shape"]) == entry["input"]["shape"] == [1, 224, 224, 3]
        assert list(out["shape"]) == entry["output"]["shape"] == [1, 5]
        assert inp["name"] == entry["tflite_tensors"]["input"]["name"]
        assert out["name"] == entry["tflite_tensors"]["output"]["name"]


class TestModelSpec:
    @pytest.mark.parametrize("name", SHIPPED)
    def test_reads_each_shipped_model(self, manifest, name):
        spec = ModelSpec.from_manifest(MODEL_DIR, name)
        assert spec.path == MODEL_DIR / f"{name}.tflite"
        assert spec.classes == tuple(CLASSES) and spec.input_size == 224
        assert spec.sha256 == manifest["files"][f"{name}.tflite"]["sha256"]
        spec.verify()

    def test_default_is_mobilenet_v2(self):
        assert ModelSpec.from_manifest(MODEL_DIR).name == "mobilenet_v2"

    def test_an_absent_model_file_is_not_built(self, tmp_path):
        shutil.copyfile(MANIFEST, tmp_path / "manifest.json")
        for name in SIZES:
            with pytest.raises(ModelError, match=r"not built.*run `python model/build.py"):
                ModelSpec.from_manifest(tmp_path, name)
        with pytest.raises(ModelError, match="--model inception_v3`"):
            ModelSpec.from_manifest(tmp_path, "inception_v3")

    def test_a_locally_built_inception_file_is_checked_against_its_record(self, tmp_path, manifest):
        data = json.loads(MANIFEST.read_text())
        data["files"]["inception_v3.tflite"]["sha256"] = hashlib.sha256(b"local").hexdigest()
        (tmp_path / "manifest.json").write_text(json.dumps(data))
        (tmp_path / "inception_v3.tflite").write_bytes(b"local")
        spec = ModelSpec.from_manifest(tmp_path, "inception_v3")
        assert spec.input_size == 299
        spec.verify()
        (tmp_path / "inception_v3.tflite").write_bytes(b"other")
        with pytest.raises(ModelError, match="sha256"):
            spec.verify()

    def test_unknown_model_and_bad_manifest_are_model_errors(self, tmp_path):
        with pytest.raises(ModelError, match="no model 'resnet'"):
            ModelSpec.from_manifest(MODEL_DIR, "resnet")
        (tmp_path / "manifest.json").write_text('{"model": "mobilenet_v2"}')
        with pytest.raises(ModelError, match="cannot read model"):
            ModelSpec.from_manifest(tmp_path, "mobilenet_v2")


class TestTfjsFiles:
    def test_weights_dequantize_in_float64_like_tfjs(self):
        module = load_model_module("tfjs_to_keras")
        tfjs_dir = MODEL_DIR / "mobilenet_v2"
        model_json, weights = module.load_tfjs(tfjs_dir)
        specs = model_json["weightsManifest"][0]["weights"]
        assert len(weights) == len(specs) == 266
        raw = np.frombuffer((tfjs_dir / "group1-shard1of1.bin").read_bytes(), dtype=np.uint8)
        assert sum(w.size for w in weights.values()) == raw.size
        # The first weight by hand: q * scale + min in double precision, stored as float32.
        first = specs[0]
        count = int(np.prod(first["shape"]))
        q = first["quantization"]
        expected = (raw[:count].astype(np.float64) * q["scale"] + q["min"]).astype(np.float32)
        np.testing.assert_array_equal(weights[first["name"]].ravel(), expected)

    def test_graph_model_shards_concatenate_in_manifest_order(self):
        module = load_model_module("tfjs_to_keras")
        tfjs_dir = MODEL_DIR / "mobilenet_v2_mid"
        model_json, weights = module.load_tfjs(tfjs_dir)
        assert model_json["format"] == "graph-model"
        (group,) = model_json["weightsManifest"]
        assert group["paths"] == SHARDS["mobilenet_v2_mid"]
        raw = b"".join((tfjs_dir / p).read_bytes() for p in group["paths"])
        assert sum(w.size for w in weights.values()) == len(raw)  # all uint8
        consts = {n["name"] for n in model_json["modelTopology"]["node"] if n["op"] == "Const"}
        assert consts == set(weights)
        # The last weight is the last bytes of the last shard.
        last = group["weights"][-1]
        count = int(np.prod(last["shape"]))
        q = last["quantization"]
        expected = (np.frombuffer(raw[-count:], np.uint8).astype(np.float64) * q["scale"] + q["min"]).astype(np.float32)
        np.testing.assert_array_equal(weights[last["name"]].ravel(), expected)
        # The graph maps [0, 1] to [-1, 1] itself: x * 2 - 1.
        scalars = {k.rsplit("/", 2)[-2]: float(v) for k, v in weights.items() if v.ndim == 0}
        assert scalars == {"Mul": 2.0, "Sub": 1.0}


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_rebuild_from_committed_tfjs_files_matches_committed_tflite(tmp_path, golden_inputs, name):
    """Slow (30-60 s each): imports TensorFlow, rebuilds the model and converts it to TFLite."""
    rebuilt = tmp_path / "rebuilt.tflite"
    result = subprocess.run(
        [sys.executable, str(MODEL_DIR / "build.py"), "--from-tfjs", str(MODEL_DIR / name), "--out", str(rebuilt)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    facts = json.loads(result.stdout)
    assert facts["reference_vs_tflite_max_abs_diff"] <= 1e-5
    assert rebuilt.stat().st_size >= 0.9 * 4 * facts["float32_weights"]

    rng = np.random.default_rng(7)
    random_inputs = [rng.random((1, 224, 224, 3), dtype=np.float32) for _ in range(3)]
    inputs = list(golden_inputs.values()) + random_inputs
    committed = run_tflite(MODEL_DIR / f"{name}.tflite", inputs)
    fresh = run_tflite(rebuilt, inputs)
    assert np.abs(fresh - committed).max() <= 1e-6


def test_golden_file_keeps_the_default_models_scores_per_image(golden_data):
    assert golden_data["meta"]["nsfwjs"] == "4.4.0"
    assert golden_data["meta"]["classes"] == CLASSES
    assert set(SHIPPED) <= set(golden_data["models"])
    default = golden_data["models"]["mobilenet_v2"]["scores"]
    assert {name: image["scores"] for name, image in golden_data["images"].items()} == default


@pytest.mark.parametrize("name", SHIPPED)
def test_committed_model_and_preprocessing_reproduce_nsfwjs(golden_data, golden_inputs, name):
    """Model-level parity with nsfwjs: same pixels in, same five probabilities out."""
    recorded = golden_data["models"][name]
    assert recorded["input_size"] == 224
    names = list(golden_inputs)
    assert len(names) >= 6 and set(recorded["scores"]) == set(names)
    scores = run_tflite(MODEL_DIR / f"{name}.tflite", [golden_inputs[n] for n in names])
    for image, row in zip(names, scores):
        expected = golden_data["images"][image]
        rgb = decode(image)
        assert (rgb.shape[1], rgb.shape[0]) == (expected["width"], expected["height"]), image
        assert hashlib.sha256(rgb.tobytes()).hexdigest() == expected["rgb_sha256"], image
        for cls, value in zip(CLASSES, row):
            assert value == pytest.approx(recorded["scores"][image][cls], abs=1e-4), (image, cls)
