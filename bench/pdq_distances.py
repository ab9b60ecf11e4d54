"""How far PDQ moves under ordinary edits: Hamming distances on the project's test images.

    .venv/bin/python bench/pdq_distances.py            # the table, over tests/data/images
    .venv/bin/python bench/pdq_distances.py --markdown # the same, as a Markdown table
    .venv/bin/python bench/pdq_distances.py --reference  # hashed by pdqhash on every pixel instead

Every copy is made as a user's tools make it (Pillow: re-encoded, resized, brightened, written
on, greyed, trimmed, turned, flipped), written to bytes and decoded by the service's own decoder
(``nsfw.imaging.decode``), then hashed as the service hashes (``nsfw.imaging.pdq.hash_frame``).
The distance is to the hash of the original as the service decodes it. The last rows are the
distances between different images (every pair), which a match threshold must stay below.
Nothing is written anywhere.
"""

from __future__ import annotations

import argparse
import io
import itertools
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nsfw.imaging.decode import decode  # noqa: E402
from nsfw.imaging.pdq import Pdq, hash_frame  # noqa: E402
from nsfw.settings import Settings  # noqa: E402

IMAGES = ROOT / "tests" / "data" / "images"


def encoded(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **options)
    return buf.getvalue()


def trim(fraction: float) -> Callable[[Image.Image], bytes]:
    """``fraction`` of the width and height cut from every side."""

    def edit(image: Image.Image) -> bytes:
        dx, dy = round(image.width * fraction), round(image.height * fraction)
        return encoded(image.crop((dx, dy, image.width - dx, image.height - dy)))

    return edit


def resized(scale: float) -> Callable[[Image.Image], bytes]:
    def edit(image: Image.Image) -> bytes:
        size = (round(image.width * scale), round(image.height * scale))
        return encoded(image.resize(size, Image.Resampling.LANCZOS), "JPEG", quality=90)

    return edit


def watermarked(image: Image.Image) -> bytes:
    """A half-opaque white caption in the lower right corner, a sixteenth of the height tall,
    as a photo site or a phone app stamps one."""
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    size = max(8, image.height // 16)
    font = ImageFont.load_default(size)
    text = "@someone 2026"
    width = draw.textlength(text, font=font)
    draw.text((image.width - width - size, image.height - 2 * size), text, font=font, fill=(255, 255, 255, 128))
    return encoded(Image.alpha_composite(image.convert("RGBA"), layer).convert("RGB"))


def captioned(image: Image.Image) -> bytes:
    """An opaque outlined caption across the lower part, a tenth of the height tall: a meme's text."""
    marked = image.copy()
    draw = ImageDraw.Draw(marked)
    size = max(10, image.height // 10)
    font = ImageFont.load_default(size)
    origin = (image.width // 20, image.height - 2 * size)
    stroke = max(1, size // 12)
    draw.text(origin, "@someone 2026", font=font, fill=(255, 255, 255), stroke_width=stroke, stroke_fill=(0, 0, 0))
    return encoded(marked)


EDITS: dict[str, Callable[[Image.Image], bytes]] = {
    "JPEG q50": lambda image: encoded(image, "JPEG", quality=50),
    "PNG": lambda image: encoded(image, "PNG"),
    "resize 75%": resized(0.75),
    "resize 50%": resized(0.5),
    "brightness +10%": lambda image: encoded(ImageEnhance.Brightness(image).enhance(1.1)),
    "text watermark": watermarked,
    "large caption": captioned,
    "greyscale": lambda image: encoded(ImageOps.grayscale(image).convert("RGB")),
    "trim 0.5%": trim(0.005),
    "trim 1%": trim(0.01),
    "trim 2%": trim(0.02),
    "trim 3%": trim(0.03),
    "rotate 2°": lambda image: encoded(image.rotate(2, Image.Resampling.BICUBIC)),
    "flip left-right": lambda image: encoded(ImageOps.mirror(image)),
    "flip top-bottom": lambda image: encoded(ImageOps.flip(image)),
}


def photos() -> list[Path]:
    return sorted(p for p in IMAGES.iterdir() if p.suffix in (".jpg", ".png"))


HASH = hash_frame  # --reference: pdqhash on every pixel


def full_pixels(rgb: np.ndarray) -> Pdq:
    """The reference C++ on every pixel, in the same hex."""
    import pdqhash

    bits, quality = pdqhash.compute(np.ascontiguousarray(rgb))
    return Pdq(np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex(), int(quality))


def hash_of(data: bytes) -> Pdq:
    return HASH(decode(data, Settings()).frames[0])


def distance(a: Pdq, b: Pdq) -> int:
    return (int(a.hash, 16) ^ int(b.hash, 16)).bit_count()


def measure(
    paths: list[Path], edits: dict[str, Callable[[Image.Image], bytes]] = EDITS
) -> tuple[dict[str, list[int]], list[int], dict[str, int]]:
    """Distances per edit (one per image, in ``paths`` order), between every pair, and the qualities."""
    originals = {}
    by_edit: dict[str, list[int]] = {name: [] for name in edits}
    qualities = {}
    for path in paths:
        data = path.read_bytes()
        pixels = decode(data, Settings()).frames[0]
        original = HASH(pixels)
        originals[path.name], qualities[path.name] = original, original.quality
        image = Image.fromarray(np.asarray(pixels))
        for name, edit in edits.items():
            by_edit[name].append(distance(original, hash_of(edit(image))))
    pairs = [distance(a, b) for a, b in itertools.combinations(originals.values(), 2)]
    return by_edit, pairs, qualities


def table(paths: list[Path], by_edit: dict[str, list[int]], pairs: list[int], markdown: bool) -> str:
    names = [p.stem[:12] for p in paths]
    head = ["edit", *names, "min", "max"]
    rows = [[name, *map(str, values), str(min(values)), str(max(values))] for name, values in by_edit.items()]
    blank = [""] * len(names)
    rows.append(["different images", *blank, str(min(pairs)), str(max(pairs))])
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in [head, *rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--reference", action="store_true", help="hash every pixel with pdqhash, not as the service")
    args = parser.parse_args()
    global HASH
    if args.reference:
        HASH = full_pixels
    paths = photos()
    by_edit, pairs, qualities = measure(paths)
    print(table(paths, by_edit, pairs, args.markdown))
    print()
    print(f"images: {len(paths)}; qualities: {', '.join(f'{k} {v}' for k, v in qualities.items())}")
    print(
        f"different images, {len(pairs)} pairs: min {min(pairs)}, median {statistics.median(pairs)}, "
        f"pairs within 31 bits: {sum(d <= 31 for d in pairs)}"
    )


if __name__ == "__main__":
    main()
