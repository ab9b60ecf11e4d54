"""Images per second of `nsfw classify` on a folder of photos: one worker process against all.

    .venv/bin/python bench/cli.py                  # 2,000 640x480 JPEGs, --jobs 1 and --jobs <cpus>, 3 rounds
    .venv/bin/python bench/cli.py --count 20 --rounds 1   # a smoke run

It makes COUNT distinct 640x480 JPEGs (quality 90) in a temporary directory from the
photographs in tests/data/images (random crops, flips, colour, contrast and brightness
changes: photo content, not flat colour, and no two files alike, so the result cache never
answers), then runs the real command, ``python -m nsfw classify DIR --quiet --output FILE``,
with each --jobs value in turn, round after round (interleaved, so a drift in the machine's
speed hits both alike). It prints each run, then the median and the best images per second per
--jobs, with the load average next to each run: on a shared machine the best of several rounds
is the closest to what a quiet machine does, so read the figures with the load.
"Images/s" is the images divided by the whole command's wall time, start-up included
(workers spawned, model loaded), since that is what a user waits for; the start-up alone is
measured on one image and printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageEnhance, ImageOps

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = ROOT / "tests" / "data" / "images"
PHOTO_NAMES = (
    "astronaut_640x480.jpg",
    "chelsea.png",
    "camera_gray.png",
    "coffee_224x224.png",
    "retina.jpg",
    "rocket_exif_orientation6.jpg",
)
SIZE = (640, 480)


def make_images(directory: Path, count: int, seed: int = 12) -> None:
    """``count`` different 640x480 JPEGs made from the test photos."""
    rng = random.Random(seed)
    photos = [ImageOps.exif_transpose(Image.open(PHOTOS / name)).convert("RGB") for name in PHOTO_NAMES]
    for i in range(count):
        photo = photos[i % len(photos)]
        w, h = photo.size
        scale = rng.uniform(0.55, 1.0)
        cw, ch = max(8, int(w * scale)), max(8, int(h * scale))
        left, top = rng.randint(0, w - cw), rng.randint(0, h - ch)
        image = photo.crop((left, top, left + cw, top + ch)).resize(SIZE, Image.Resampling.BILINEAR)
        if rng.random() < 0.5:
            image = ImageOps.mirror(image)
        image = ImageEnhance.Color(image).enhance(rng.uniform(0.6, 1.4))
        image = ImageEnhance.Contrast(image).enhance(rng.uniform(0.8, 1.2))
        image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.8, 1.2))
        image.save(directory / f"img{i:05d}.jpg", quality=90)


def classify(directory: Path, out: Path, jobs: int) -> float:
    """Seconds for the real command to classify ``directory``; fails loudly on any error."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NSFW_")}
    command = [sys.executable, "-m", "nsfw", "classify", str(directory), "--quiet", "--jobs", str(jobs)]
    started = time.perf_counter()
    done = subprocess.run(
        [*command, "--output", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}:\n{done.stderr}")
    return seconds


def count_records(path: Path) -> int:
    with path.open() as fh:
        return sum(1 for line in fh if "error" not in json.loads(line))


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    cpus = len(os.sched_getaffinity(0))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000, help="images to make and classify (default 2000)")
    parser.add_argument("--rounds", type=int, default=3, help="runs per --jobs value, interleaved (default 3)")
    parser.add_argument(
        "--jobs", type=int, nargs="+", default=sorted({1, cpus}), help=f"--jobs values (default: 1 {cpus})"
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="nsfw-bench-cli-") as tmp:
        images, one = Path(tmp, "images"), Path(tmp, "one")
        images.mkdir()
        one.mkdir()
        started = time.perf_counter()
        make_images(images, args.count)
        make_images(one, 1, seed=99)
        print(f"made {args.count} 640x480 JPEGs in {time.perf_counter() - started:.1f} s; {cpus} CPUs", flush=True)

        startup = {jobs: classify(one, Path(tmp, "one.jsonl"), jobs) for jobs in args.jobs}
        rates: dict[int, list[float]] = {jobs: [] for jobs in args.jobs}
        print("| round | --jobs | images | seconds | images/s | load average (1, 5, 15 min) |")
        print("| --- | --- | --- | --- | --- | --- |")
        for round_ in range(1, args.rounds + 1):
            for jobs in args.jobs:
                out = Path(tmp, f"out-{jobs}.jsonl")
                seconds = classify(images, out, jobs)
                classified = count_records(out)
                if classified != args.count:
                    raise SystemExit(f"--jobs {jobs}: {classified} of {args.count} images classified")
                rates[jobs].append(args.count / seconds)
                print(
                    f"| {round_} | {jobs} | {args.count} | {seconds:.2f} | {args.count / seconds:.1f} "
                    f"| {load_average()} |",
                    flush=True,
                )
        print()
        print("| --jobs | start-up, 1 image (s) | median images/s | x --jobs 1 | best images/s | x --jobs 1 |")
        print("| --- | --- | --- | --- | --- | --- |")
        base_median, base_best = statistics.median(rates[args.jobs[0]]), max(rates[args.jobs[0]])
        for jobs in args.jobs:
            median, best = statistics.median(rates[jobs]), max(rates[jobs])
            print(
                f"| {jobs} | {startup[jobs]:.2f} | {median:.1f} | {median / base_median:.2f} "
                f"| {best:.1f} | {best / base_best:.2f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
