#!/usr/bin/env python3
"""Reproducible build of the NSFW classifier: nsfwjs@4.4.0 -> tfjs files -> Keras -> TFLite.

Why this exists: the service runs GantMan's nsfw_model MobileNetV2 exactly as
the nsfwjs npm package ships it, so the only trustworthy source of the weights
is that package, pinned by its npm integrity hash. The package bundles the
model as JavaScript (model.min.js + base64 shards), not as a file any
converter reads, and the ``tensorflowjs`` pip package conflicts with current
TensorFlow. So the build:

  (a) ``npm pack nsfwjs@4.4.0`` into a temporary directory and checks the
      tarball's sha512 against the pinned integrity;
  (b) runs ``node model/extract_tfjs.cjs`` to write plain tfjs files
      (model.json + group1-shard1of1.bin) into model/mobilenet_v2/;
  (c) rebuilds the Keras 3 model from that topology and the dequantized
      weights (model/tfjs_to_keras.py);
  (d) converts it to a float32 TFLite model (no quantization, no
      optimizations): model/mobilenet_v2.tflite;
  (e) writes model/manifest.json (provenance, licences, sha256 and size of
      every output, class order, input format, preprocessing, tool versions).

``--from-tfjs DIR --out FILE.tflite`` skips npm and rebuilds the TFLite model
from already-extracted tfjs files (the committed ones, in the test suite).
``--keras-out FILE.keras`` also saves the Keras model, in either mode.

Full build:     python model/build.py
From the repo:  python model/build.py --from-tfjs model/mobilenet_v2 --out /tmp/m.tflite
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

PACKAGE = "nsfwjs"
VERSION = "4.4.0"
INTEGRITY = ("sha512-krC1fgeTLXtZwgdpKJ0jm7hqv0gTSRQQRL+FhOaxaJ9Wj92t42BO3csO2odwgTAgZgf2RvkwPtp0"
             "R8Aa7dc+MA==")
SHASUM = "706017d11e44de0803b73a568819f800a50ae470"
MODEL_NAME = "mobilenet_v2"
INPUT_SIZE = 224
NSFWJS_CLASSES = ["Drawing", "Hentai", "Neutral", "Porn", "Sexy"]
CLASSES = ["drawings", "hentai", "neutral", "porn", "sexy"]


def log(message: str) -> None:
    print(f"build: {message}", file=sys.stderr, flush=True)


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def npm_pack(workdir: Path) -> tuple[Path, dict]:
    """Fetch the pinned tarball through npm, verify it, unpack it; return (package dir, info)."""
    spec = f"{PACKAGE}@{VERSION}"
    log(f"npm pack {spec}")
    result = subprocess.run(["npm", "pack", spec, "--json", "--pack-destination", str(workdir)],
                            cwd=workdir, check=True, capture_output=True, text=True)
    reported = json.loads(result.stdout)[0]
    tarball = workdir / reported["filename"]
    actual = "sha512-" + base64.b64encode(
        bytes.fromhex(file_digest(tarball, "sha512"))).decode("ascii")
    if actual != INTEGRITY or reported.get("integrity") != INTEGRITY:
        raise SystemExit(f"integrity mismatch for {spec}: tarball {actual}, "
                         f"npm {reported.get('integrity')}, pinned {INTEGRITY}")
    if file_digest(tarball, "sha1") != SHASUM:
        raise SystemExit(f"sha1 mismatch for {spec}")
    log(f"verified {tarball.name} ({INTEGRITY[:24]}...)")
    with tarfile.open(tarball) as archive:
        archive.extractall(workdir, filter="data")
    return workdir / "package", {"tarball": tarball.name,
                                 "tarball_bytes": tarball.stat().st_size}


def extract_tfjs(models_dir: Path, out_dir: Path) -> None:
    subprocess.run(["node", str(HERE / "extract_tfjs.cjs"), str(models_dir), str(out_dir),
                    MODEL_NAME], check=True)


def to_tflite(model) -> bytes:
    """Plain float32 conversion: no quantization, no optimizations."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = []
    # Keras prints its temporary SavedModel export to stdout; keep stdout for results.
    with contextlib.redirect_stdout(sys.stderr):
        return converter.convert()


def tflite_signature(tflite_path: Path) -> dict:
    """Names and shapes of the TFLite model's input and output tensors."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(tflite_path))
    described = {}
    for role, details in (("input", interpreter.get_input_details()),
                          ("output", interpreter.get_output_details())):
        (detail,) = details
        described[role] = {"name": detail["name"],
                           "shape_signature": detail["shape_signature"].tolist(),
                           "dtype": np.dtype(detail["dtype"]).name}
    return described


def tflite_predict(tflite_path: Path, batch: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(tflite_path))
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]["index"]
    out = interpreter.get_output_details()[0]["index"]
    rows = []
    for image in batch:
        interpreter.set_tensor(inp, image[np.newaxis].astype(np.float32))
        interpreter.invoke()
        rows.append(interpreter.get_tensor(out)[0].copy())
    return np.stack(rows)


def check_inputs() -> np.ndarray:
    """Fixed inputs for the Keras-vs-TFLite check: zeros, ones, seeded uniform noise."""
    rng = np.random.default_rng(20240501)
    noise = rng.random((4, INPUT_SIZE, INPUT_SIZE, 3), dtype=np.float32)
    flat = np.stack([np.zeros((INPUT_SIZE, INPUT_SIZE, 3), np.float32),
                     np.ones((INPUT_SIZE, INPUT_SIZE, 3), np.float32)])
    return np.concatenate([flat, noise])


def build_tflite(tfjs_dir: Path, out: Path, keras_out: Path | None) -> dict:
    """tfjs dir -> Keras -> TFLite file; return facts for the manifest."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    from tfjs_to_keras import tfjs_to_keras

    log(f"rebuilding Keras model from {tfjs_dir}")
    model = tfjs_to_keras(tfjs_dir)
    if keras_out is not None:
        keras_out.parent.mkdir(parents=True, exist_ok=True)
        model.save(str(keras_out))
        log(f"wrote {keras_out}")
    log("converting to float32 TFLite")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(to_tflite(model))
    log(f"wrote {out} ({out.stat().st_size} bytes)")

    inputs = check_inputs()
    expected = model.predict(inputs, verbose=0)
    diff = float(np.abs(tflite_predict(out, inputs) - expected).max())
    log(f"max |Keras - TFLite| over {len(inputs)} check inputs: {diff:.3g}")
    if diff > 1e-5:
        raise SystemExit(f"TFLite output differs from Keras by {diff}")
    return {"tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": np.__version__, "tflite_tensors": tflite_signature(out),
            "keras_vs_tflite_max_abs_diff": diff,
            "check_inputs": f"{len(inputs)} images: zeros, ones, 4 seeded uniform [0,1)"}


def tool_version(*command: str) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


def write_manifest(dest: Path, files: list[Path], source: dict, built: dict) -> None:
    built = dict(built)
    tensors = built.pop("tflite_tensors")
    manifest = {
        "model": MODEL_NAME,
        "description": "GantMan nsfw_model MobileNetV2 (224x224) as bundled in nsfwjs, "
                       "rebuilt as a float32 TFLite model",
        "source": source,
        "licenses": [
            {"component": f"{PACKAGE} {VERSION} (packaging, model.json topology)",
             "license": "MIT", "holder": "Infinite Red, Inc.", "text": "LICENSE.nsfwjs"},
            {"component": "model weights", "license": "MIT",
             "origin": "GantMan/nsfw_model (Gant Laborde), bundled by nsfwjs"},
        ],
        "files_relative_to": "the directory holding this manifest",
        "files": {f.relative_to(dest).as_posix(): {"sha256": file_digest(f),
                                                  "bytes": f.stat().st_size} for f in files},
        "classes": CLASSES,
        "nsfwjs_class_names": NSFWJS_CLASSES,
        "input": {"size": INPUT_SIZE, "shape": [1, INPUT_SIZE, INPUT_SIZE, 3],
                  "layout": "NHWC", "dtype": "float32", "channels": "RGB", "range": [0.0, 1.0],
                  "batch_dimension": "dynamic in the TFLite signature, 1 by default"},
        "output": {"shape": [1, len(CLASSES)], "dtype": "float32", "activation": "softmax",
                   "order": CLASSES},
        "tflite_tensors": tensors,
        "preprocessing": {
            "decode": "apply the EXIF orientation, then convert to 8-bit RGB",
            "scale": "float32(pixel) / 255",
            "resize": "stretch (no crop, no aspect preservation) to 224x224 with bilinear "
                      "interpolation, align_corners=true, no antialiasing "
                      "(tf.image.resizeBilinear(x, [224, 224], true)); skipped when the "
                      "image is already 224x224",
            "reference": "nsfwjs dist/cjs/core.js NSFWJS.prototype.infer; "
                         "numpy port: nsfw/preprocess.py to_model_input",
        },
        "build": {
            "command": "python model/build.py",
            "steps": ["npm pack + sha512 integrity check",
                      "node model/extract_tfjs.cjs (model.min.js, shard .min.js -> "
                      "model.json, .bin)",
                      "model/tfjs_to_keras.py: Keras 3 model, uint8 weights dequantized "
                      "in float64 (q * scale + min) then cast to float32",
                      "tf.lite.TFLiteConverter.from_keras_model, float32, no optimizations"],
            "node": tool_version("node", "--version"),
            "npm": tool_version("npm", "--version"),
            **built,
        },
    }
    path = dest / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    log(f"wrote {path}")


def full_build(dest: Path, keras_out: Path | None) -> None:
    tfjs_dir = dest / MODEL_NAME
    tflite = dest / f"{MODEL_NAME}.tflite"
    license_copy = dest / "LICENSE.nsfwjs"
    with tempfile.TemporaryDirectory(prefix="nsfwjs-build-") as tmp:
        package_dir, tarball = npm_pack(Path(tmp))
        src_dir = package_dir / "dist" / "models" / MODEL_NAME
        source = {
            "package": PACKAGE, "version": VERSION, "npm_integrity": INTEGRITY,
            "npm_shasum": SHASUM, **tarball,
            "files": {p.relative_to(package_dir).as_posix(): {"sha256": file_digest(p),
                                                              "bytes": p.stat().st_size}
                      for p in sorted(src_dir.iterdir())},
        }
        if tfjs_dir.exists():
            shutil.rmtree(tfjs_dir)
        extract_tfjs(package_dir / "dist" / "models", tfjs_dir)
        shutil.copyfile(package_dir / "LICENSE", license_copy)
    built = build_tflite(tfjs_dir, tflite, keras_out)
    outputs = sorted(tfjs_dir.iterdir()) + [tflite, license_copy]
    write_manifest(dest, outputs, source, built)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from-tfjs", type=Path, metavar="DIR",
                        help="skip npm: rebuild from this tfjs model directory (needs --out)")
    parser.add_argument("--out", type=Path, metavar="FILE.tflite",
                        help="TFLite output for --from-tfjs")
    parser.add_argument("--keras-out", type=Path, metavar="FILE.keras",
                        help="also save the rebuilt Keras model here")
    parser.add_argument("--dest", type=Path, default=HERE, metavar="DIR",
                        help="full build output directory (default: this script's directory)")
    args = parser.parse_args(argv)
    if args.from_tfjs is not None:
        if args.out is None:
            parser.error("--from-tfjs needs --out")
        built = build_tflite(args.from_tfjs, args.out, args.keras_out)
        print(json.dumps(built, indent=2))
        return 0
    if args.out is not None:
        parser.error("--out is only used with --from-tfjs")
    full_build(args.dest.resolve(), args.keras_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
