"""Near-duplicates made by the tests from the project's test images, as people and CDNs make them."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageDraw, ImageEnhance, ImageOps

IMAGES = Path(__file__).resolve().parents[1] / "data" / "images"
ORIGINALS = sorted(p for p in IMAGES.iterdir() if p.suffix in (".jpg", ".png"))


def _jpeg(image: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _trim(image: Image.Image, fraction: float) -> Image.Image:
    w, h = image.size
    dx, dy = round(w * fraction), round(h * fraction)
    return image.crop((dx, dy, w - dx, h - dy))


def _watermark(image: Image.Image) -> Image.Image:
    marked = image.convert("RGB")
    w, h = marked.size
    ImageDraw.Draw(marked).text((w // 20, h - h // 8), "(c) example.com 2026", fill=(255, 255, 255))
    return marked


def variants(path: Path) -> dict[str, bytes]:
    """Each kind of near-duplicate of the image at ``path``, encoded as it would be uploaded."""
    image = ImageOps.exif_transpose(Image.open(path))
    w, h = image.size
    return {
        "jpeg q50": _jpeg(image, 50),
        "png": _png(image),
        "resized 75%": _jpeg(image.resize((w * 3 // 4, h * 3 // 4), Image.Resampling.LANCZOS)),
        "resized 50%": _jpeg(image.resize((w // 2, h // 2), Image.Resampling.LANCZOS)),
        "trimmed 0.5%": _jpeg(_trim(image, 0.005)),
        "watermarked": _jpeg(_watermark(image)),
        "brightened 10%": _jpeg(ImageEnhance.Brightness(image.convert("RGB")).enhance(1.1)),
        "greyscale": _png(ImageOps.grayscale(image)),
    }
