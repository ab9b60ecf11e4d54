"""Images per second: `nsfw classify` against `nsfw bulk` (Ray Data) on the same folder of photos.

    .venv/bin/python bench/bulk.py                   # 2,000 images; prints a markdown table
    .venv/bin/python bench/bulk.py --count 200       # a quicker look
    .venv/bin/python bench/bulk.py --output bench/bulk-results.md
    .venv/bin/python bench/bulk.py --classify "{python} -m nsfw classify --quiet --jobs 1 {dir}"

It writes COUNT distinct 640x480 JPEGs into a temporary folder: random crops, shifts, flips and
exposure changes of the photographs in tests/data/images (real photo content, never a flat
colour, no two files alike, so no result comes from the cache). Each command runs twice, on
FIXED images and on all COUNT, so its fixed cost (interpreter, model load; for bulk, starting
Ray and its actors) is measured apart from its rate: steady images/s = (COUNT - FIXED) /
(wall(COUNT) - wall(FIXED)). The commands are templates, run as given: {python} is this
interpreter, {dir} the folder, {files} every image path, {out} a fresh output path; so the
script measures whatever `nsfw classify` or `nsfw bulk` is at the time. When both commands'
outputs can be read (JSON Lines on stdout, Parquet at {out}), it checks the scores are equal.
The load average before and after is printed with the figures: the machine may be shared, and
then the CPU time per image (of every process the run started: the command, its decoders,
Ray's daemons and workers) says more than the wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shlex
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = ["astronaut_640x480.jpg", "retina.jpg", "chelsea.png", "camera_gray.png", "coffee_224x224.png"]
PHOTOS += ["rocket_exif_orientation6.jpg"]
CLASSES = ("drawings", "hentai", "neutral", "porn", "sexy")
DEFAULT_CLASSIFY = "{python} -m nsfw classify --quiet {dir}"  # on every core
DEFAULT_BULK = "{python} -m nsfw bulk --input {dir} --output {out}"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=2000, help="images in the folder (default 2000)")
    p.add_argument("--fixed", type=int, default=8, help="images of the short run that measures fixed costs")
    p.add_argument("--classify", default=DEFAULT_CLASSIFY, help=f"the classify command (default: {DEFAULT_CLASSIFY})")
    p.add_argument("--bulk", default=DEFAULT_BULK, help=f"the bulk command (default: {DEFAULT_BULK})")
    p.add_argument("--only", choices=("classify", "bulk"), help="run one of the two")
    p.add_argument("--output", type=Path, help="also write the table (with the machine's facts) to this file")
    return p.parse_args(argv)


def make_photos(folder: Path, count: int, seed: int = 12) -> list[Path]:
    """``count`` distinct 640x480 JPEGs cut from the test photographs."""
    from PIL import Image, ImageEnhance, ImageOps

    rng = random.Random(seed)
    sources = []
    for name in PHOTOS:
        with Image.open(ROOT / "tests" / "data" / "images" / name) as image:
            sources.append(ImageOps.exif_transpose(image).convert("RGB"))
    paths = []
    for index in range(count):
        image = sources[index % len(sources)]
        w, h = image.size
        scale = rng.uniform(0.55, 1.0)  # a crop of 55-100% of the photo, at 4:3, anywhere in it
        cw = min(w, int(min(w, h * 4 / 3) * scale))
        ch = min(h, int(cw * 3 / 4))
        x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
        crop = image.crop((x, y, x + cw, y + ch)).resize((640, 480), Image.Resampling.BICUBIC)
        if rng.random() < 0.5:
            crop = ImageOps.mirror(crop)
        crop = ImageEnhance.Brightness(crop).enhance(rng.uniform(0.8, 1.2))
        path = folder / f"{index // 500:02d}" / f"photo_{index:05d}.jpg"
        path.parent.mkdir(exist_ok=True)
        crop.save(path, "JPEG", quality=rng.randint(80, 92))
        paths.append(path)
    return paths


def run(template: str, folder: Path, files: list[Path], out: Path) -> dict:
    words = []
    for word in shlex.split(template):
        if word == "{files}":
            words += [str(f) for f in files]
        else:
            words.append(word.format(python=sys.executable, dir=folder, out=out))
    marker = f"NSFW_BENCH_RUN={uuid.uuid4().hex}"
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "NSFW_BENCH_RUN": marker.split("=")[1]}
    meter = CpuMeter(marker)
    started = time.monotonic()
    with meter:
        done = subprocess.run(words, cwd=ROOT, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    wall, cpu = time.monotonic() - started, meter.total()
    if done.returncode != 0:
        sys.exit(f"{' '.join(words[:6])} ... exited {done.returncode}:\n{done.stderr[-3000:]}")
    ray_start = re.search(r"\(([\d.]+) s to start Ray\)", done.stderr)
    return {
        "wall": wall,
        "cpu": cpu,
        "stdout": done.stdout,
        "ray_start": float(ray_start.group(1)) if ray_start else None,
    }


class CpuMeter(threading.Thread):
    """CPU seconds of every process carrying ``marker`` in its environment: the command, its
    decoders, and Ray's daemons and workers, which no single parent waits for (so rusage misses
    them). Sampled every 0.2 s: a process's last fraction of a sample is not counted."""

    def __init__(self, marker: str):
        super().__init__(daemon=True)
        self.marker = marker.encode()
        self.seen: dict[int, bool] = {}  # pid -> carries the marker
        self.cpu: dict[int, float] = {}  # pid -> CPU seconds at its last sample
        self.stop = threading.Event()
        self.tick = os.sysconf("SC_CLK_TCK")

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.join()

    def run(self):
        while not self.stop.wait(0.2):
            self.sample()

    def sample(self):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            try:
                if pid not in self.seen:
                    with open(f"/proc/{pid}/environ", "rb") as fh:
                        self.seen[pid] = self.marker in fh.read()
                if self.seen[pid]:
                    with open(f"/proc/{pid}/stat") as fh:
                        fields = fh.read().rsplit(")", 1)[1].split()
                    self.cpu[pid] = (int(fields[11]) + int(fields[12])) / self.tick
            except OSError:
                pass

    def total(self) -> float:
        return sum(self.cpu.values())


def scores_from_jsonl(text: str) -> dict:
    scores = {}
    for line in text.splitlines():
        try:
            record = json.loads(line)
            scores[str(Path(record["source"]).resolve())] = tuple(record[c] for c in CLASSES)
        except (ValueError, KeyError, TypeError):
            return {}
    return scores


def scores_from_parquet(path: Path) -> dict:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        return {}
    if not path.exists():
        return {}
    rows = pq.read_table(path).to_pylist()
    return {str(Path(row["source"]).resolve()): tuple(row[c] for c in CLASSES) for row in rows}


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main(argv=None) -> int:
    args = parse_args(argv)
    lines = []
    with tempfile.TemporaryDirectory(prefix="nsfw-bulk-bench-") as tmp:
        tmp = Path(tmp)
        folder, small = tmp / "photos", tmp / "few"
        folder.mkdir()
        small.mkdir()
        started = time.monotonic()
        files = make_photos(folder, args.count)
        few = make_photos(small, args.fixed, seed=99)
        print(f"made {len(files)} + {len(few)} JPEGs 640x480 in {time.monotonic() - started:.0f} s", file=sys.stderr)
        commands = {"classify": args.classify, "bulk": args.bulk}
        if args.only:
            commands = {args.only: commands[args.only]}
        results, load_before = {}, loadavg()
        for name, template in commands.items():
            print(f"{name}: {args.fixed} images, then {args.count} ...", file=sys.stderr)
            short = run(template, small, few, tmp / f"{name}-few.parquet")
            full = run(template, folder, files, tmp / f"{name}-all.parquet")
            results[name] = (short, full)
        load_after = loadavg()
        same = ""
        if len(results) == 2:
            a = scores_from_jsonl(results["classify"][1]["stdout"])
            b = scores_from_parquet(tmp / "bulk-all.parquet")
            if a and b:
                equal = sum(a.get(k) == v for k, v in b.items())
                same = f"scores equal for {equal} of {len(b)} images"

    lines.append(f"{args.count} distinct 640x480 JPEGs (fixed costs from a {args.fixed}-image run)\n")
    lines.append(
        "| command | wall, all images | images/s overall | fixed cost | steady images/s | Ray start "
        "| CPU ms per image, steady |"
    )
    lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, (short, full) in results.items():
        steady = (args.count - args.fixed) / max(1e-9, full["wall"] - short["wall"])
        cpu = (full["cpu"] - short["cpu"]) / (args.count - args.fixed) * 1000
        ray_start = f"{full['ray_start']:.1f} s" if full["ray_start"] is not None else "-"
        lines.append(
            f"| {name} | {full['wall']:.1f} s | {args.count / full['wall']:.1f} | {short['wall']:.1f} s "
            f"| {steady:.1f} | {ray_start} | {cpu:.1f} |"
        )
    lines.append("")
    lines.append(f"load average (1, 5, 15 min) before: {load_before}; after: {load_after}; {os.cpu_count()} CPUs")
    if same:
        lines.append(same)
    lines.append("commands: " + "; ".join(f"`{commands[n]}`" for n in results))
    table = "\n".join(lines)
    print(table)
    if args.output:
        facts = (
            f"# nsfw classify vs nsfw bulk\n\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
            f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
            f"commit {_commit()}\n\n"
        )
        args.output.write_text(facts + table + "\n")
    return 0


def _commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


if __name__ == "__main__":
    sys.exit(main())
