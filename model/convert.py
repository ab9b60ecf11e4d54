"""tfjs files -> float32 TFLite file, checked against TensorFlow and against nsfwjs.

* layers-models (mobilenet_v2, inception_v3): rebuilt as Keras 3 models
  (tfjs_to_keras.py); the one converted with
  ``TFLiteConverter.from_keras_model`` has its BatchNormalizations folded in
  float64 by numpy (so the .tflite does not depend on the CPU); the
  reference is the unfolded Keras model.
* graph-models (mobilenet_v2_mid): rebuilt as a TensorFlow function whose
  weights are graph constants (tfjs_graph.py), converted with
  ``TFLiteConverter.from_concrete_functions``; the reference is TensorFlow
  running the graph as tfjs wrote it (fused ops and all, which needs
  oneDNN: ``build_tflite`` turns it on).

Every conversion is plain float32 (no quantization, no optimizations). The
TFLite file must answer what its reference answers to 1e-5 on fixed inputs
and must hold at least 90% of its float32 weights' bytes (BatchNorm statistics
are folded away; a converter that silently drops the weights fails here). ``nsfwjs_parity`` compares the TFLite
model, fed by the service's own preprocessing, with nsfwjs's recorded
outputs (tests/golden/golden.json).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
REFERENCE_TOLERANCE = 1e-5
PARITY_TOLERANCE = 1e-4


def tfjs_format(tfjs_dir: Path) -> str:
    """ "graph-model" or "layers-model" (older layers-models carry no format field)."""
    model_json = json.loads((Path(tfjs_dir) / "model.json").read_text())
    return model_json.get("format") or "layers-model"


def check_inputs(size: int) -> np.ndarray:
    """Fixed inputs for the reference-vs-TFLite check: zeros, ones, seeded uniform noise."""
    rng = np.random.default_rng(20240501)
    noise = rng.random((4, size, size, 3), dtype=np.float32)
    flat = np.stack([np.zeros((size, size, 3), np.float32), np.ones((size, size, 3), np.float32)])
    return np.concatenate([flat, noise])


def tflite_signature(tflite_path: Path) -> dict:
    """Names and shapes of the TFLite model's input and output tensors."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(tflite_path))
    described = {}
    for role, details in (("input", interpreter.get_input_details()), ("output", interpreter.get_output_details())):
        (detail,) = details
        described[role] = {
            "name": detail["name"],
            "shape_signature": detail["shape_signature"].tolist(),
            "dtype": np.dtype(detail["dtype"]).name,
        }
    return described


def tflite_predict(tflite_path: Path, batch) -> np.ndarray:
    """Run each (size, size, 3) image of ``batch`` through the TFLite model, one at a time."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(tflite_path))
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]["index"]
    out = interpreter.get_output_details()[0]["index"]
    rows = []
    for image in batch:
        interpreter.set_tensor(inp, np.asarray(image, np.float32).reshape(1, *image.shape[-3:]))
        interpreter.invoke()
        rows.append(interpreter.get_tensor(out)[0].copy())
    return np.stack(rows)


def _convert(converter) -> bytes:
    converter.optimizations = []
    # Keras prints its temporary SavedModel export to stdout; keep stdout for results.
    with contextlib.redirect_stdout(sys.stderr):
        return converter.convert()


def _layers_model(tfjs_dir: Path, keras_out: Path | None):
    """(TFLite bytes, reference callable, input size, float weight count, facts)."""
    import tensorflow as tf
    from tfjs_to_keras import build_keras_model, load_tfjs

    model_json, weights = load_tfjs(tfjs_dir)
    model = build_keras_model(model_json, weights)
    if keras_out is not None:
        keras_out.parent.mkdir(parents=True, exist_ok=True)
        model.save(str(keras_out))
    # Converted: the same model with BatchNormalization folded in float64 by
    # numpy, not by TensorFlow's CPU-dependent Rsqrt (tfjs_to_keras docstring).
    folded = build_keras_model(model_json, weights, fold_batchnorm=True)
    data = _convert(tf.lite.TFLiteConverter.from_keras_model(folded))
    count = sum(int(np.prod(w.shape)) for w in model.weights)
    facts = {
        "converter": "tf.lite.TFLiteConverter.from_keras_model (BatchNormalization folded "
        "beforehand in float64: model/tfjs_to_keras.py fold_batchnorm)",
        "reference": "the Keras 3 model rebuilt by model/tfjs_to_keras.py",
    }
    return data, (lambda x: model.predict(x, verbose=0)), int(model.input_shape[1]), count, facts


def _graph_model(tfjs_dir: Path):
    import tensorflow as tf
    import tfjs_graph

    _require_onednn(tf)
    plain = tfjs_graph.graph_function(tfjs_dir, split_fused=True)
    fused = tfjs_graph.graph_function(tfjs_dir, split_fused=False)
    data = _convert(tf.lite.TFLiteConverter.from_concrete_functions([plain], plain))
    size = int(plain.inputs[0].shape[1])
    facts = {
        "converter": "tf.lite.TFLiteConverter.from_concrete_functions (graph with fused "
        "ops split into Conv2D/DepthwiseConv2dNative/MatMul + BiasAdd + "
        "Relu6, weights as constants; model/tfjs_graph.py)",
        "reference": "TensorFlow running the tfjs graph with its fused ops",
    }
    return (data, (lambda x: fused(tf.constant(x)).numpy()), size, tfjs_graph.weight_count(tfjs_dir), facts)


def _require_onednn(tf) -> None:
    """Fail clearly unless TensorFlow runs with its oneDNN ops (needed by the graph-model reference).

    TensorFlow's only CPU kernel for ``_FusedDepthwiseConv2dNative`` is
    oneDNN's: without oneDNN the op gets a placeholder kernel that computes
    nothing ("Missing 0-th output"). Stock x86 TensorFlow turns oneDNN on by
    default only on CPUs with AVX512-VNNI/BF16, AVX-VNNI or AMX, so
    ``build_tflite`` turns it on before importing TensorFlow; this catches a
    TensorFlow imported earlier, or built without oneDNN.
    """
    from tensorflow.python.util import _pywrap_util_port

    if not _pywrap_util_port.IsMklEnabled():
        raise SystemExit(
            f"TensorFlow {tf.__version__} runs without oneDNN (imported before TF_ENABLE_ONEDNN_OPTS=1 "
            "was set, or built without it); the graph-model reference needs oneDNN's "
            "_FusedDepthwiseConv2dNative kernel"
        )


def build_tflite(tfjs_dir: Path, out: Path, keras_out: Path | None = None) -> dict:
    """tfjs dir -> TFLite file; return facts for the manifest. Exits on a failed check."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # oneDNN on, whatever the CPU: TensorFlow's default depends on the CPU's
    # features, and the graph-model reference cannot run without it (see
    # _require_onednn). The .tflite files do not depend on it.
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1"
    import keras
    import tensorflow as tf

    kind = tfjs_format(tfjs_dir)
    print(f"build: converting the {kind} in {tfjs_dir} to float32 TFLite", file=sys.stderr)
    if kind == "graph-model":
        if keras_out is not None:
            raise SystemExit("--keras-out: a graph-model has no Keras equivalent")
        data, reference, size, count, facts = _graph_model(tfjs_dir)
    else:
        data, reference, size, count, facts = _layers_model(tfjs_dir, keras_out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    print(f"build: wrote {out} ({len(data)} bytes, {count} float32 weights)", file=sys.stderr)
    if len(data) < 0.9 * 4 * count:  # not all: BatchNorm statistics fold into conv weights
        raise SystemExit(
            f"{out} holds {len(data)} bytes, much less than its {count} float32 weights: the converter dropped weights"
        )

    inputs = check_inputs(size)
    diff = float(np.abs(tflite_predict(out, inputs) - reference(inputs)).max())
    print(f"build: max |reference - TFLite| over {len(inputs)} check inputs: {diff:.3g}", file=sys.stderr)
    if diff > REFERENCE_TOLERANCE:
        raise SystemExit(f"TFLite output differs from its reference by {diff}")
    return {
        "format": kind,
        "input_size": size,
        "float32_weights": count,
        **facts,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "tflite_tensors": tflite_signature(out),
        "reference_vs_tflite_max_abs_diff": diff,
        "check_inputs": f"{len(inputs)} images: zeros, ones, 4 seeded uniform [0,1)",
    }


def _decode(path: Path) -> np.ndarray:
    from PIL import Image, ImageOps

    with Image.open(path) as image:
        return np.asarray(ImageOps.exif_transpose(image).convert("RGB"), dtype=np.uint8)


def _shown(path: Path) -> str:
    path = path.resolve()
    return path.relative_to(REPO).as_posix() if path.is_relative_to(REPO) else str(path)


def nsfwjs_parity(tflite: Path, model: str, golden_path: Path, images_dir: Path) -> dict | None:
    """Max |TFLite - nsfwjs| per image for ``model``, or None when golden.json lacks it."""
    if not golden_path.is_file():
        return None
    golden = json.loads(golden_path.read_text())
    section = golden.get("models", {}).get(model)
    if section is None:
        return None
    sys.path.insert(0, str(REPO))
    from nsfw.imaging.preprocess import to_model_input

    classes = golden["meta"]["classes"]
    per_image = {}
    for name, expected in section["scores"].items():
        rgb = _decode(images_dir / name)
        if hashlib.sha256(rgb.tobytes()).hexdigest() != golden["images"][name]["rgb_sha256"]:
            raise SystemExit(f"{name}: decoded pixels differ from the ones nsfwjs classified")
        (row,) = tflite_predict(tflite, to_model_input(rgb, section["input_size"]))
        per_image[name] = float(max(abs(float(v) - expected[c]) for c, v in zip(classes, row)))
    worst = max(per_image.values())
    print(f"build: {model}: max |TFLite - nsfwjs| over {len(per_image)} images: {worst:.3g}", file=sys.stderr)
    if worst > PARITY_TOLERANCE:
        raise SystemExit(f"{model}: TFLite differs from nsfwjs by {worst}")
    return {
        "max_abs_diff": worst,
        "per_image": per_image,
        "tolerance": PARITY_TOLERANCE,
        "against": f"{_shown(golden_path)} models.{model} "
        f"(nsfwjs {golden['meta']['nsfwjs']}, tfjs {golden['meta']['tfjs']} "
        f"{golden['meta']['backend']})",
        "preprocessing": "nsfw.preprocess.to_model_input",
    }
