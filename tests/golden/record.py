#!/usr/bin/env python3
"""Record nsfwjs's own scores for every test image into tests/golden/golden.json.

The service claims to answer exactly what nsfwjs answers. This script makes
that checkable: it decodes each image in tests/data/images with plain Pillow
(EXIF orientation applied, then converted to 8-bit RGB, as a browser would
hand the pixels to nsfwjs), writes the raw pixels to a temporary directory,
and runs classify.cjs, which feeds them to the real nsfwjs package (pinned in
package-lock.json) with its bundled MobileNetV2 on tfjs's pure-JS CPU backend.

golden.json holds, for every image file name: the decoded width and height,
the sha256 of the decoded RGB bytes, and the five probabilities keyed
drawings/hentai/neutral/porn/sexy; plus the versions that produced them.

Usage: python tests/golden/record.py   (runs `npm ci` first if node_modules is missing)
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
CLASSES = {"Drawing": "drawings", "Hentai": "hentai", "Neutral": "neutral",
           "Porn": "porn", "Sexy": "sexy"}


def decode(path: Path) -> np.ndarray:
    """uint8 HxWx3 RGB pixels, EXIF orientation applied."""
    with Image.open(path) as image:
        return np.asarray(ImageOps.exif_transpose(image).convert("RGB"), dtype=np.uint8)


def run_nsfwjs(images: dict[str, np.ndarray]) -> dict:
    if not (HERE / "node_modules").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True)
    with tempfile.TemporaryDirectory(prefix="nsfw-golden-") as tmp:
        listing = []
        for index, (name, rgb) in enumerate(images.items()):
            raw = Path(tmp) / f"{index}.rgb"
            raw.write_bytes(np.ascontiguousarray(rgb).tobytes())
            listing.append({"name": name, "path": str(raw),
                            "height": int(rgb.shape[0]), "width": int(rgb.shape[1])})
        list_path = Path(tmp) / "images.json"
        list_path.write_text(json.dumps(listing))
        result = subprocess.run(["node", str(HERE / "classify.cjs"), str(list_path)],
                                cwd=HERE, check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(result.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=Path, default=IMAGES, help="image directory")
    parser.add_argument("--out", type=Path, default=HERE / "golden.json", help="output JSON")
    args = parser.parse_args(argv)

    paths = sorted(p for p in args.images.iterdir() if p.suffix.lower() in SUFFIXES)
    if not paths:
        raise SystemExit(f"no images in {args.images}")
    decoded = {p.name: decode(p) for p in paths}
    answer = run_nsfwjs(decoded)

    images = {}
    for name, rgb in decoded.items():
        raw_scores = answer["results"][name]
        if set(raw_scores) != set(CLASSES):
            raise SystemExit(f"{name}: unexpected classes {sorted(raw_scores)}")
        images[name] = {
            "width": int(rgb.shape[1]),
            "height": int(rgb.shape[0]),
            "rgb_sha256": hashlib.sha256(np.ascontiguousarray(rgb).tobytes()).hexdigest(),
            "scores": {ours: raw_scores[theirs] for theirs, ours in CLASSES.items()},
        }
    node_version = subprocess.run(["node", "--version"], check=True, capture_output=True,
                                  text=True).stdout.strip()
    golden = {
        "meta": {
            "nsfwjs": answer["nsfwjs"],
            "tfjs": answer["tfjs"],
            "tfjs_core": answer["tfjs_core"],
            "backend": answer["backend"],
            "model": answer["model"],
            "node": node_version,
            "decoder": f"Pillow {PIL.__version__}: ImageOps.exif_transpose(Image.open(p))"
                       ".convert('RGB')",
            "call": "model.classify(tf.tensor3d(pixels, [h, w, 3], 'int32'), 5)",
            "classes": list(CLASSES.values()),
            "recorded_by": "tests/golden/record.py",
        },
        "images": images,
    }
    args.out.write_text(json.dumps(golden, indent=2) + "\n")
    print(f"record: wrote {args.out} ({len(images)} images)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
