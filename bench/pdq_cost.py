"""What a PDQ hash costs the decoder, per image size, and how many bits its downscale moves.

    .venv/bin/python bench/pdq_cost.py            # 640x480, 2 MP, 12 MP, 24 MP
    .venv/bin/python bench/pdq_cost.py --quick    # 640x480 and 12 MP, fewer repetitions

For each size: the CPU time (``time.process_time``, one thread, as in the decoder process) of
``nsfw.imaging.pdq.hash_frame`` on decoded pixels, against ``pdqhash.compute`` on every pixel
(the reference C++, what hashing without the lattice would cost). Then the bits moved: the
Hamming distance between ``hash_frame`` and the reference hash of the full pixels, over the
project's test images resized to that size (Lanczos) and bench/payloads.py's synthetic photo;
and, for comparison, what the reference ``pdq-photo-hasher``'s own downscale (nearest
neighbour to 512x512 for anything larger) moves on the same pixels. Prints a Markdown table;
writes nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pdqhash
from PIL import Image

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

import payloads  # noqa: E402
from pdq_distances import photos  # noqa: E402

from nsfw.imaging.decode import decode  # noqa: E402
from nsfw.imaging.pdq import Pdq, hash_frame  # noqa: E402
from nsfw.settings import Settings  # noqa: E402

SIZES = {"640x480": (640, 480), "2 MP": (1920, 1080), "12 MP": (4000, 3000), "24 MP": (6000, 4000)}
QUICK = ("640x480", "12 MP")
REFERENCE_SIDE = 512  # pdq-photo-hasher resizes anything larger to this square first (CImg, nearest neighbour)


def reference(rgb: np.ndarray) -> Pdq:
    bits, quality = pdqhash.compute(np.ascontiguousarray(rgb))
    return Pdq(np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex(), int(quality))


def reference_cli(rgb: np.ndarray) -> Pdq:
    """What pdq-photo-hasher hashes: the pixels, or a nearest-neighbour 512x512 square of them."""
    height, width = rgb.shape[:2]
    if height <= REFERENCE_SIDE and width <= REFERENCE_SIDE:
        return reference(rgb)
    rows = np.arange(REFERENCE_SIDE) * height // REFERENCE_SIDE
    cols = np.arange(REFERENCE_SIDE) * width // REFERENCE_SIDE
    return reference(rgb[rows[:, np.newaxis], cols[np.newaxis, :]])


def distance(a: Pdq, b: Pdq) -> int:
    return (int(a.hash, 16) ^ int(b.hash, 16)).bit_count()


def cpu_ms(work, repeats: int) -> float:
    work()  # imports, plans
    started = time.process_time()
    for _ in range(repeats):
        work()
    return (time.process_time() - started) / repeats * 1000


def pictures(size: tuple[int, int]) -> list[np.ndarray]:
    """The test images at ``size``, and the synthetic photo, as the decoder would hold them."""
    found = []
    for path in photos():
        image = Image.fromarray(decode(path.read_bytes(), Settings()).frames[0])
        found.append(np.asarray(image.resize(size, Image.Resampling.LANCZOS)))
    found.append(np.asarray(payloads.photo(*size)))
    return found


def row(name: str, size: tuple[int, int], repeats: int) -> str:
    *images, photo = pictures(size)
    ours = cpu_ms(lambda: hash_frame(photo), repeats)
    full = cpu_ms(lambda: pdqhash.compute(photo), max(1, repeats // 50))
    references = [reference(rgb) for rgb in images]
    moved = [distance(hash_frame(rgb), ref) for rgb, ref in zip(images, references)]
    cli = [distance(reference_cli(rgb), ref) for rgb, ref in zip(images, references)]
    grain = reference(photo)
    megapixels = size[0] * size[1] / 1e6
    return (
        f"| {name} | {megapixels:.1f} | {ours:.2f} | {full:.1f} | {statistics.mean(moved):.1f} / {max(moved)} "
        f"| {statistics.mean(cli):.1f} / {max(cli)} "
        f"| {distance(hash_frame(photo), grain)} / {distance(reference_cli(photo), grain)} (q {grain.quality}) |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="two sizes, fewer repetitions")
    args = parser.parse_args()
    names = QUICK if args.quick else tuple(SIZES)
    repeats = 20 if args.quick else 200
    print(
        "| size | MP | hash_frame CPU ms | pdqhash of every pixel CPU ms | test images, bits moved: mean / max "
        "| pdq-photo-hasher's 512 px downscale: mean / max | synthetic grainy photo: ours / pdq-photo-hasher |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in names:
        print(row(name, SIZES[name], repeats), flush=True)
    print(f"\n{len(photos())} test images a size (tests/data/images resized), and bench/payloads.py's photo")


if __name__ == "__main__":
    main()
