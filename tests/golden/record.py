#!/usr/bin/env python3
"""Record nsfwjs's own scores for every test image into tests/golden/golden.json.

The service claims to answer exactly what nsfwjs answers. This script makes
that checkable: it decodes each image in tests/data/images with plain Pillow
(EXIF orientation applied, then converted to 8-bit RGB, as a browser would
hand the pixels to nsfwjs), writes the raw pixels to a temporary directory,
and runs classify.cjs, which feeds them to the real nsfwjs package (pinned in
package-lock.json) with each of its bundled models (MobileNetV2,
MobileNetV2Mid, InceptionV3) on tfjs's pure-JS CPU backend.

golden.json holds:

* "images": for every image file name, the decoded width and height, the
  sha256 of the decoded RGB bytes, and "scores": MobileNetV2's five
  probabilities keyed drawings/hentai/neutral/porn/sexy (the default model;
  this layout predates the other models and its readers rely on it);
* "models": for every recorded model (mobilenet_v2, mobilenet_v2_mid,
  inception_v3), nsfwjs's name for it, its input size and "scores":
  {image name: {class: probability}};
* "meta": the versions that produced them.

Usage: python tests/golden/record.py [--models NAME ...]
       (runs `npm ci` first if node_modules is missing; InceptionV3 on the
       pure-JS backend takes a few minutes)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import PIL
from PIL import Image, ImageOps

HERE = Path(__file__).resolve().parent
IMAGES = HERE.parent / "data" / "images"
SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp"}
# nsfwjs class name -> the service's JSON key, in the model's output order
CLASSES = {"Drawing": "drawings", "Hentai": "hentai", "Neutral": "neutral", "Porn": "porn", "Sexy": "sexy"}
MODELS = ("mobilenet_v2", "mobilenet_v2_mid", "inception_v3")
DEFAULT_MODEL = "mobilenet_v2"


def decode(path: Path) -> np.ndarray:
    """uint8 HxWx3 RGB pixels, EXIF orientation applied."""
    with Image.open(path) as image:
        return np.asarray(ImageOps.exif_transpose(image).convert("RGB"), dtype=np.uint8)


def run_nsfwjs(images: dict[str, np.ndarray], models: list[str]) -> dict:
    if not (HERE / "node_modules").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True)
    with tempfile.TemporaryDirectory(prefix="nsfw-golden-") as tmp:
        listing = []
        for index, (name, rgb) in enumerate(images.items()):
            raw = Path(tmp) / f"{index}.rgb"
            raw.write_bytes(np.ascontiguousarray(rgb).tobytes())
            listing.append({"name": name, "path": str(raw), "height": int(rgb.shape[0]), "width": int(rgb.shape[1])})
        list_path = Path(tmp) / "images.json"
        list_path.write_text(json.dumps(listing))
        result = subprocess.run(
            ["node", str(HERE / "classify.cjs"), str(list_path), *models],
            cwd=HERE,
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        )
    return json.loads(result.stdout)


def our_scores(name: str, raw_scores: dict) -> dict:
    if set(raw_scores) != set(CLASSES):
        raise SystemExit(f"{name}: unexpected classes {sorted(raw_scores)}")
    return {ours: raw_scores[theirs] for theirs, ours in CLASSES.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=Path, default=IMAGES, help="image directory")
    parser.add_argument("--out", type=Path, default=HERE / "golden.json", help="output JSON")
    parser.add_argument(
        "--models",
        nargs="+",
        choices=MODELS,
        default=list(MODELS),
        help="models to record (default: all; mobilenet_v2 is always run)",
    )
    args = parser.parse_args(argv)
    models = [DEFAULT_MODEL] + [m for m in args.models if m != DEFAULT_MODEL]

    paths = sorted(p for p in args.images.iterdir() if p.suffix.lower() in SUFFIXES)
    if not paths:
        raise SystemExit(f"no images in {args.images}")
    decoded = {p.name: decode(p) for p in paths}
    answer = run_nsfwjs(decoded, models)

    recorded = {}
    for model in models:
        section = answer["models"][model]
        recorded[model] = {
            "nsfwjs_model": section["nsfwjs_model"],
            "input_size": section["input_size"],
            "scores": {name: our_scores(name, section["results"][name]) for name in decoded},
        }
    images = {}
    for name, rgb in decoded.items():
        images[name] = {
            "width": int(rgb.shape[1]),
            "height": int(rgb.shape[0]),
            "rgb_sha256": hashlib.sha256(np.ascontiguousarray(rgb).tobytes()).hexdigest(),
            "scores": recorded[DEFAULT_MODEL]["scores"][name],
        }
    node_version = subprocess.run(["node", "--version"], check=True, capture_output=True, text=True).stdout.strip()
    golden = {
        "meta": {
            "nsfwjs": answer["nsfwjs"],
            "tfjs": answer["tfjs"],
            "tfjs_core": answer["tfjs_core"],
            "backend": answer["backend"],
            "model": recorded[DEFAULT_MODEL]["nsfwjs_model"],
            "model_note": "images[*].scores are MobileNetV2's; models[*].scores hold every recorded model's",
            "node": node_version,
            "decoder": f"Pillow {PIL.__version__}: ImageOps.exif_transpose(Image.open(p)).convert('RGB')",
            "call": "(await nsfwjs.load(name, {modelDefinitions: [definition]}))"
            ".classify(tf.tensor3d(pixels, [h, w, 3], 'int32'), 5)",
            "classes": list(CLASSES.values()),
            "recorded_by": "tests/golden/record.py",
        },
        "images": images,
        "models": recorded,
    }
    args.out.write_text(json.dumps(golden, indent=2) + "\n")
    print(f"record: wrote {args.out} ({len(images)} images, models {', '.join(models)})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
