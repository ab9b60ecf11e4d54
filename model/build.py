#!/usr/bin/env python3
"""Reproducible build of the NSFW classifiers: nsfwjs@4.4.0 -> tfjs files -> TFLite.

Why this exists: the service runs GantMan's nsfw_model networks exactly as
the nsfwjs npm package ships them, so the only trustworthy source of the
weights is that package, pinned by its npm integrity hash. The package
bundles each model as JavaScript (model.min.js + base64 shards), not as files
a converter reads, and the ``tensorflowjs`` pip package conflicts with
current TensorFlow. So the build:

  (a) ``npm pack nsfwjs@4.4.0`` into a temporary directory and checks the
      tarball's sha512 against the pinned integrity;
  (b) runs ``node model/extract_tfjs.cjs`` to write plain tfjs files
      (model.json + group1-shard*.bin) into model/<name>/;
  (c) rebuilds the network in TensorFlow and converts it to a float32 TFLite
      model (no quantization, no optimizations), model/<name>.tflite, checked
      against TensorFlow and against nsfwjs's recorded outputs
      (model/convert.py, model/tfjs_to_keras.py, model/tfjs_graph.py);
  (d) updates model/manifest.json (provenance, licences, per-model entries,
      sha256 and size of every file, tool versions). Entries of models not
      rebuilt in this run are kept.

Models: mobilenet_v2 and mobilenet_v2_mid are shipped (committed);
inception_v3 (~90 MB) is built on demand and never committed.

Shipped models:  python model/build.py
InceptionV3:     python model/build.py --model inception_v3
From tfjs files: python model/build.py --from-tfjs model/mobilenet_v2_mid --out /tmp/m.tflite
(``--from-tfjs`` skips npm and the manifest and prints the build facts as JSON;
``--keras-out FILE.keras`` also saves the Keras model of a layers-model.)
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import convert  # noqa: E402  (needs HERE on sys.path)
from build_manifest import ALL_MODELS, SHIPPED, write_manifest  # noqa: E402

PACKAGE = "nsfwjs"
VERSION = "4.4.0"
INTEGRITY = "sha512-krC1fgeTLXtZwgdpKJ0jm7hqv0gTSRQQRL+FhOaxaJ9Wj92t42BO3csO2odwgTAgZgf2RvkwPtp0R8Aa7dc+MA=="
SHASUM = "706017d11e44de0803b73a568819f800a50ae470"
GOLDEN = HERE.parent / "tests" / "golden" / "golden.json"
IMAGES = HERE.parent / "tests" / "data" / "images"


def log(message: str) -> None:
    print(f"build: {message}", file=sys.stderr, flush=True)


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_entry(path: Path) -> dict:
    return {"sha256": file_digest(path), "bytes": path.stat().st_size}


def npm_pack(workdir: Path) -> tuple[Path, dict]:
    """Fetch the pinned tarball through npm, verify it, unpack it; return (package dir, info)."""
    spec = f"{PACKAGE}@{VERSION}"
    log(f"npm pack {spec}")
    result = subprocess.run(
        ["npm", "pack", spec, "--json", "--pack-destination", str(workdir)],
        cwd=workdir,
        check=True,
        capture_output=True,
        text=True,
    )
    reported = json.loads(result.stdout)[0]
    tarball = workdir / reported["filename"]
    actual = "sha512-" + base64.b64encode(bytes.fromhex(file_digest(tarball, "sha512"))).decode("ascii")
    if actual != INTEGRITY or reported.get("integrity") != INTEGRITY:
        raise SystemExit(
            f"integrity mismatch for {spec}: tarball {actual}, npm {reported.get('integrity')}, pinned {INTEGRITY}"
        )
    if file_digest(tarball, "sha1") != SHASUM:
        raise SystemExit(f"sha1 mismatch for {spec}")
    log(f"verified {tarball.name} ({INTEGRITY[:24]}...)")
    with tarfile.open(tarball) as archive:
        archive.extractall(workdir, filter="data")
    return workdir / "package", {"tarball": tarball.name, "tarball_bytes": tarball.stat().st_size}


def tool_version(*command: str) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


def build_one(name: str, package_dir: Path, dest: Path, keras_out: Path | None) -> dict:
    """Extract, convert and check one model; return its build record for the manifest."""
    started = time.monotonic()
    src_dir = package_dir / "dist" / "models" / name
    tfjs_dir = dest / name
    if tfjs_dir.exists():
        shutil.rmtree(tfjs_dir)
    subprocess.run(
        ["node", str(HERE / "extract_tfjs.cjs"), str(package_dir / "dist" / "models"), str(tfjs_dir), name], check=True
    )
    tflite = dest / f"{name}.tflite"
    built = convert.build_tflite(tfjs_dir, tflite, keras_out)
    expected_size = ALL_MODELS[name]["input_size"]
    if built["input_size"] != expected_size:
        raise SystemExit(f"{name}: input size {built['input_size']}, expected {expected_size}")
    built["nsfwjs_parity"] = convert.nsfwjs_parity(tflite, name, GOLDEN, IMAGES)
    if built["nsfwjs_parity"] is None:
        log(f"{name}: no nsfwjs outputs in {GOLDEN}; parity not checked (record them with tests/golden/record.py)")
    log(f"{name}: built in {time.monotonic() - started:.0f} s")
    return {
        "built": built,
        "package_files": {p.relative_to(package_dir).as_posix(): file_entry(p) for p in sorted(src_dir.iterdir())},
        "tfjs_files": {p.relative_to(dest).as_posix(): file_entry(p) for p in sorted(tfjs_dir.iterdir())},
        "tflite": file_entry(tflite),
    }


def full_build(dest: Path, names: list[str], keras_out: Path | None) -> None:
    records = {}
    with tempfile.TemporaryDirectory(prefix="nsfwjs-build-") as tmp:
        package_dir, tarball = npm_pack(Path(tmp))
        source = {"package": PACKAGE, "version": VERSION, "npm_integrity": INTEGRITY, "npm_shasum": SHASUM, **tarball}
        for name in names:
            records[name] = build_one(name, package_dir, dest, keras_out if len(names) == 1 else None)
        shutil.copyfile(package_dir / "LICENSE", dest / "LICENSE.nsfwjs")
    tools = {"node": tool_version("node", "--version"), "npm": tool_version("npm", "--version")}
    write_manifest(dest, source, records, tools, {"LICENSE.nsfwjs": file_entry(dest / "LICENSE.nsfwjs")})
    log(f"wrote {dest / 'manifest.json'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model",
        action="append",
        choices=[*ALL_MODELS, "all"],
        help="model to build (repeatable; default: the shipped ones, "
        f"{', '.join(SHIPPED)}; 'all' adds the optional ones)",
    )
    parser.add_argument(
        "--from-tfjs",
        type=Path,
        metavar="DIR",
        help="skip npm and the manifest: rebuild from this tfjs model directory (needs --out)",
    )
    parser.add_argument("--out", type=Path, metavar="FILE.tflite", help="TFLite output for --from-tfjs")
    parser.add_argument(
        "--keras-out",
        type=Path,
        metavar="FILE.keras",
        help="also save the rebuilt Keras model (layers-models, one model)",
    )
    parser.add_argument(
        "--dest",
        type=Path,
        default=HERE,
        metavar="DIR",
        help="full build output directory (default: this script's directory)",
    )
    args = parser.parse_args(argv)
    if args.from_tfjs is not None:
        if args.out is None:
            parser.error("--from-tfjs needs --out")
        built = convert.build_tflite(args.from_tfjs, args.out, args.keras_out)
        if args.model:
            if len(args.model) != 1 or args.model[0] == "all":
                parser.error("--from-tfjs takes at most one --model (for the parity check)")
            built["nsfwjs_parity"] = convert.nsfwjs_parity(args.out, args.model[0], GOLDEN, IMAGES)
        print(json.dumps(built, indent=2))
        return 0
    if args.out is not None:
        parser.error("--out is only used with --from-tfjs")
    names = args.model or list(SHIPPED)
    if "all" in names:
        names = list(ALL_MODELS)
    names = list(dict.fromkeys(names))
    if args.keras_out is not None and len(names) != 1:
        parser.error("--keras-out needs exactly one --model")
    full_build(args.dest.resolve(), names, args.keras_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
