"""Opening an image with the one Pillow decoder its bytes name, HEIF and AVIF included.

pillow-heif's image class is used directly rather than registered, so that no other ``Image.open`` in
the process accepts HEIF; both plugins are held to one thread, as the decoder's CPU budget assumes,
and libheif's limit errors are told apart from corrupt files.
"""

from __future__ import annotations

import functools
from typing import Any, BinaryIO

from PIL import Image

from nsfw.errors import CorruptImage, ImageTooLarge, UnsupportedMedia


def raise_libheif_limit(exc: Exception) -> None:
    """libheif reports its security limits (items, boxes, image size) and failed allocations as
    "Memory allocation error": the file is over a limit, which is not the same as corrupt."""
    text = " ".join(str(exc).split())
    if not text.startswith("Memory allocation error"):
        return
    if "Security limit exceeded" in text and "Image size" not in text:
        raise CorruptImage(f"the HEIF file is over libheif's limits: {text.split(': ', 2)[-1]}"[:300]) from exc
    raise ImageTooLarge("decoding the image needs more memory than this service allows") from exc


def open_image(fp: BinaryIO, fmt: str) -> Image.Image:
    """The image, opened by the one decoder its bytes name."""
    if fmt == "HEIF":
        heif: Image.Image = heif_image_class()(fp)
        return heif
    if fmt == "AVIF":
        load_avif_plugin()
    return Image.open(fp, formats=[fmt])


@functools.cache
def heif_image_class() -> Any:  # pillow-heif's HeifImageFile: pillow_heif ships no type information
    """pillow-heif's image class, used directly: registering it would make every Image.open accept HEIF."""
    from pillow_heif import options
    from pillow_heif.as_plugin import HeifImageFile

    options.DECODE_THREADS = 1  # one core, as the decoder's CPU budget assumes
    options.DEPTH_IMAGES = options.AUX_IMAGES = False  # never used: less for libheif to read
    return HeifImageFile


@functools.cache
def load_avif_plugin() -> None:
    from PIL import AvifImagePlugin

    if not AvifImagePlugin.SUPPORTED:  # a Pillow built without libavif
        raise UnsupportedMedia("this service's Pillow cannot decode AVIF")
    AvifImagePlugin.DEFAULT_MAX_THREADS = 1
