"""The models the build knows and the model/manifest.json it writes.

manifest.json shape:

* ``source``, ``licenses``, ``build`` (tool versions, steps): the whole build;
* ``models``: one entry per known model (built or not): its TFLite ``file``,
  ``classes``, ``input``, ``output``, ``tflite_tensors``, ``preprocessing``,
  ``source_files`` (package files and extracted tfjs files, with sha256),
  ``accuracy_note``, whether it is ``shipped``, and its ``build`` record
  (command, converter, checks against TensorFlow and nsfwjs);
* ``files``: sha256 and size of every committed file, plus the optional
  locally built ones, marked ``"optional": true, "committed": false``, whose
  sha256 is the one the last build produced (null if never built).

A build of some models keeps the other models' entries from the existing
manifest, so building inception_v3 locally only adds its record.
"""

from __future__ import annotations

import json
from pathlib import Path

NSFWJS_CLASSES = ["Drawing", "Hentai", "Neutral", "Porn", "Sexy"]
CLASSES = ["drawings", "hentai", "neutral", "porn", "sexy"]

ALL_MODELS = {
    "mobilenet_v2": {
        "nsfwjs_name": "MobileNetV2",
        "input_size": 224,
        "shipped": True,
        "description": "GantMan nsfw_model MobileNetV2 (224x224), nsfwjs's default model",
        "accuracy_note": "nsfwjs: ~90% accurate (its 'small' model); the service's default",
        "input_note": "the network consumes [0, 1] directly",
    },
    "mobilenet_v2_mid": {
        "nsfwjs_name": "MobileNetV2Mid",
        "input_size": 224,
        "shipped": True,
        "description": "GantMan nsfw_model MobileNetV2 'mid' (224x224, width 1.4, "
        "TF-Hub feature vector + dense head), a tfjs graph-model in nsfwjs",
        "accuracy_note": "nsfwjs: ~93% accurate (its 'midsized' model)",
        "input_note": "the graph maps [0, 1] to [-1, 1] itself (x * 2 - 1)",
    },
    "inception_v3": {
        "nsfwjs_name": "InceptionV3",
        "input_size": 299,
        "shipped": False,
        "description": "GantMan nsfw_model InceptionV3 (299x299) as bundled in nsfwjs",
        "accuracy_note": "nsfwjs gives no accuracy figure for it; about 5x the compute of "
        "mobilenet_v2_mid; built locally, not shipped (~90 MB)",
        "input_note": "the network has no normalisation layer: it consumes [0, 1], as nsfwjs feeds it",
    },
}
SHIPPED = [name for name, info in ALL_MODELS.items() if info["shipped"]]

LICENSES = [
    {
        "component": "nsfwjs 4.4.0 (packaging, model.json topologies)",
        "license": "MIT",
        "holder": "Infinite Red, Inc.",
        "text": "LICENSE.nsfwjs",
    },
    {"component": "model weights", "license": "MIT", "origin": "GantMan/nsfw_model (Gant Laborde), bundled by nsfwjs"},
]
STEPS = [
    "npm pack + sha512 integrity check",
    "node model/extract_tfjs.cjs (model.min.js, shard .min.js -> model.json, .bin)",
    "weights: uint8 dequantized in float64 (q * scale + min), then cast to float32",
    "layers-models: Keras 3 model (model/tfjs_to_keras.py); BatchNormalization folded into "
    "x * multiplier + offset in float64 by numpy, not by TensorFlow's CPU-dependent Rsqrt; "
    "tf.lite.TFLiteConverter.from_keras_model",
    "graph-models: TensorFlow GraphDef with fused ops split into stock ops "
    "(model/tfjs_graph.py), tf.lite.TFLiteConverter.from_concrete_functions",
    "float32, no optimizations; TFLite checked against TensorFlow (1e-5) and, with "
    "nsfw.preprocess.to_model_input, against nsfwjs's outputs in tests/golden/golden.json "
    "(1e-4)",
]


def build_command(name: str) -> str:
    return "python model/build.py" + ("" if name == "mobilenet_v2" else f" --model {name}")


def _preprocessing(size: int) -> dict:
    return {
        "decode": "apply the EXIF orientation, then convert to 8-bit RGB",
        "scale": "float32(pixel) / 255",
        "resize": f"stretch (no crop, no aspect preservation) to {size}x{size} with bilinear "
        "interpolation, align_corners=true, no antialiasing "
        f"(tf.image.resizeBilinear(x, [{size}, {size}], true)); skipped when the "
        f"image is already {size}x{size}",
        "reference": "nsfwjs dist/cjs/core.js NSFWJS.prototype.infer; "
        f"numpy port: nsfw/imaging/preprocess.py to_model_input(rgb, {size})",
    }


def model_entry(name: str, record: dict | None) -> dict:
    info = ALL_MODELS[name]
    size = info["input_size"]
    built = dict(record["built"]) if record else None
    entry = {
        "nsfwjs_name": info["nsfwjs_name"],
        "description": info["description"],
        "file": f"{name}.tflite",
        "shipped": info["shipped"],
        "accuracy_note": info["accuracy_note"],
        "tfjs_format": built.pop("format") if built else None,
        "classes": CLASSES,
        "nsfwjs_class_names": NSFWJS_CLASSES,
        "input": {
            "size": size,
            "shape": [1, size, size, 3],
            "layout": "NHWC",
            "dtype": "float32",
            "channels": "RGB",
            "range": [0.0, 1.0],
            "batch_dimension": "dynamic in the TFLite signature, 1 by default",
            "note": info["input_note"],
        },
        "output": {"shape": [1, len(CLASSES)], "dtype": "float32", "activation": "softmax", "order": CLASSES},
        "tflite_tensors": built.pop("tflite_tensors") if built else None,
        "preprocessing": _preprocessing(size),
        "source_files": ({"npm_package": record["package_files"], "tfjs": record["tfjs_files"]} if record else None),
        "build": {"command": build_command(name)},
    }
    if built:
        built.pop("input_size")
        entry["build"].update(built)
    return entry


def _tflite_file_entry(name: str, file: dict | None) -> dict:
    if ALL_MODELS[name]["shipped"]:
        return dict(file)
    return {
        "sha256": file["sha256"] if file else None,
        "bytes": file["bytes"] if file else None,
        "optional": True,
        "committed": False,
        "note": f"built locally by `{build_command(name)}` (not in git); sha256 and "
        "bytes are those of the last build recorded here (null: never built)",
    }


def write_manifest(dest: Path, source: dict, records: dict, tools: dict, extra_files: dict) -> None:
    path = dest / "manifest.json"
    previous = json.loads(path.read_text()) if path.is_file() else {}
    if "models" not in previous:  # an older single-model manifest: nothing to keep
        previous = {"models": {}, "files": {}}
    if previous.get("source", source)["version"] != source["version"]:
        previous = {"models": {}, "files": {}}  # another nsfwjs: keep nothing
    models, files = {}, {}
    for name in ALL_MODELS:
        tflite = f"{name}.tflite"
        if name in records:
            record = records[name]
            models[name] = model_entry(name, record)
            if ALL_MODELS[name]["shipped"]:
                files.update(record["tfjs_files"])
            files[tflite] = _tflite_file_entry(name, record["tflite"])
        elif name in previous["models"]:
            models[name] = previous["models"][name]
            files.update({k: v for k, v in previous["files"].items() if k == tflite or k.startswith(f"{name}/")})
        elif ALL_MODELS[name]["shipped"]:
            raise SystemExit(
                f"{name} is shipped but neither built now nor in {path}: run `python model/build.py` first"
            )
        else:
            models[name] = model_entry(name, None)
            files[tflite] = _tflite_file_entry(name, None)
    files.update(extra_files)
    versions = next((r["built"] for r in records.values()), {})
    manifest = {
        "description": "GantMan nsfw_model networks as bundled in nsfwjs, rebuilt as float32 TFLite models",
        "default_model": "mobilenet_v2",
        "source": source,
        "licenses": LICENSES,
        "models": models,
        "files_relative_to": "the directory holding this manifest",
        "files": files,
        "build": {
            "command": "python model/build.py [--model NAME ...]",
            "steps": STEPS,
            **tools,
            **{k: versions[k] for k in ("tensorflow", "keras", "numpy") if k in versions},
        },
    }
    path.write_text(json.dumps(manifest, indent=2) + "\n")
