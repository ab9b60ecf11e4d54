"""Cheap, bounded looks at an image's bytes before Pillow decodes anything.

* :func:`sniff_format` names the format from the magic bytes alone.
* :func:`webp_canvas_size` reads a WebP canvas size from the first 30 bytes
  (Pillow's WebP plugin hands the whole file to libwebp at open time, and
  libwebp allocates the canvas right then, so the size must be checked first).
* :func:`scan_gif` walks the GIF block structure without decoding pixels:
  it counts frames (up to a limit) and finds the canvas Pillow would composite
  on. Pillow enlarges its canvas when a frame's rectangle reaches outside the
  logical screen, so the canvas is the screen grown to cover every counted
  frame's rectangle. The block grammar followed is the one Pillow's GIF plugin
  reads, except that a byte which starts no block (neither ``!``, ``,`` nor
  ``;``) ends the scan, as browsers treat it: Pillow would crawl such junk one
  byte at a time in Python.
* :func:`jpeg_header_steps` and :func:`png_chunk_count` bound the work
  Pillow does in Python before (JPEG) or around (PNG) the compressed data:
  it loops once per marker, stray byte or chunk, so a 10 MB file of empty
  markers or chunks would cost seconds of CPU. The GIF scan has the same
  budget for its blocks.
* ``heif_headers.heif_declared_size`` does the same for HEIF and AVIF, whose
  boxes need a walk of their own.
"""

from __future__ import annotations

import dataclasses
import struct

from nsfw.imaging.heif_headers import heif_declared_size
from nsfw.settings import Settings, pixels_for_memory

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
HEAD_BYTES = 64  # enough for every check in this module except scan_gif and heif_declared_size

# ISO-BMFF ``ftyp`` brands (ISO/IEC 23008-12, AV1 Image File Format). The major brand must be
# one of these; MP4 and QuickTime video (isom, mp42, qt...) are not images.
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_HEVC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
_MIAF_BRANDS = frozenset({b"mif1", b"msf1"})  # structural: used by AVIF files and HEIC files alike


def sniff_format(head: bytes) -> str | None:
    """Pillow's format name for a JPEG, PNG, GIF, WebP, HEIF or AVIF signature, else None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(PNG_MAGIC):
        return "PNG"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[4:8] == b"ftyp":
        return _sniff_ftyp(head)
    return None


def _sniff_ftyp(head: bytes) -> str | None:
    """HEIF or AVIF from the ``ftyp`` box: its major brand, then its compatible brands.

    ``mif1``/``msf1`` say only "HEIF structure": an AVIF file carries them too, so a file
    whose major brand is one of them is AVIF when a compatible brand says ``avif``/``avis``
    (the AVIF specification requires one) and HEIF otherwise (libheif then finds out which
    codec its items use, and refuses the ones it lacks).
    """
    size = int.from_bytes(head[:4], "big")
    if size < 16 or size % 4:
        return None
    major = head[8:12]
    compatible = {head[i : i + 4] for i in range(16, min(size, len(head)) - 3, 4)}
    if major in _AVIF_BRANDS or (major in _MIAF_BRANDS and compatible & _AVIF_BRANDS):
        return "AVIF"
    if major in _HEVC_BRANDS or major in _MIAF_BRANDS:
        return "HEIF"
    return None


def webp_canvas_size(head: bytes) -> tuple[int, int] | None:
    """Width and height from a WebP's first chunk header, or None if unreadable."""
    kind = head[12:16]
    if kind == b"VP8X" and len(head) >= 30:
        # extended format: 24-bit canvas width-1 and height-1 after the flags
        return (int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1)
    if kind == b"VP8L" and len(head) >= 25 and head[20] == 0x2F:
        # lossless: signature byte, then 14-bit width-1 and height-1
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8 " and len(head) >= 30 and head[23:26] == b"\x9d\x01\x2a":
        # lossy key frame: start code, then 14-bit width and height (+2 scale bits)
        width, height = struct.unpack_from("<HH", head, 26)
        return width & 0x3FFF, height & 0x3FFF
    return None


@dataclasses.dataclass(frozen=True)
class GifLayout:
    frames: int  # image descriptors found, at most the scan's limit
    width: int  # logical screen grown to cover every counted frame
    height: int


def scan_gif(data: bytes, limit: int, block_limit: int) -> GifLayout:
    """Count up to ``limit`` frames of a GIF and the canvas they need.

    Counting also stops once ``block_limit`` blocks and data sub-blocks have
    been passed; frames whose descriptor lies beyond are not counted.
    """
    if len(data) < 13:
        return GifLayout(0, 0, 0)
    width, height = struct.unpack_from("<HH", data, 6)
    flags = data[10]
    pos = 13
    if flags & 0x80:
        pos += 3 << ((flags & 7) + 1)  # global colour table
    end = len(data)
    frames = blocks = 0
    while frames < limit and pos < end and blocks < block_limit:
        introducer = data[pos]
        pos += 1
        if introducer == 0x21:  # "!" extension: label, then data sub-blocks
            pos, blocks = _skip_sub_blocks(data, pos + 1, blocks, block_limit)
        elif introducer == 0x2C:  # "," image descriptor
            if pos + 9 > end:
                break
            x, y, w, h = struct.unpack_from("<4H", data, pos)
            width, height = max(width, x + w), max(height, y + h)
            local = data[pos + 8]
            pos += 9
            if local & 0x80:
                pos += 3 << ((local & 7) + 1)  # local colour table
            frames += 1
            # image data follows the LZW code size byte
            pos, blocks = _skip_sub_blocks(data, pos + 1, blocks, block_limit)
        else:  # ";" trailer, or junk: the animation ends here
            break
    return GifLayout(frames, width, height)


def _skip_sub_blocks(data: bytes, pos: int, blocks: int, block_limit: int) -> tuple[int, int]:
    end = len(data)
    blocks += 1
    while pos < end and blocks < block_limit:
        size = data[pos]
        pos += 1
        if size == 0:
            break
        pos += size
        blocks += 1
    return pos, blocks


# Markers Pillow's JPEG parser reads without a length field (the rest of
# 0xC0..0xFE carry one; below 0xC0 it stops with an error).
_JPEG_STANDALONE = frozenset({0xC8, *range(0xD0, 0xDA), *range(0xF0, 0xFE)})


def jpeg_header_steps(data: bytes, limit: int) -> int:
    """Markers, fill bytes and stray bytes before the first scan, counted up to ``limit``."""
    pos, end, steps = 2, len(data), 0
    while pos + 1 < end and steps < limit:
        steps += 1
        if data[pos] != 0xFF:
            pos += 1  # stray byte
            continue
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1  # fill byte
        elif marker == 0x00:
            pos += 2
        elif marker == 0xDA or marker < 0xC0:
            break  # start of scan: libjpeg's job from here
        elif marker in _JPEG_STANDALONE:
            pos += 2
        elif pos + 4 > end:
            break
        else:
            length = int.from_bytes(data[pos + 2 : pos + 4], "big")
            pos += 2 + max(length, 2)
    return steps


def png_chunk_count(data: bytes, limit: int) -> int:
    """Chunks in a PNG, counted up to ``limit``."""
    pos, end, chunks = len(PNG_MAGIC), len(data), 0
    while pos + 8 <= end and chunks < limit:
        chunks += 1
        pos += 12 + int.from_bytes(data[pos : pos + 4], "big")
    return chunks


_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # frame headers (not DHT, JPG, DAC)


def image_size(data: bytes, limit: int = 1000) -> tuple[int, int] | None:
    """Width and height as the headers state them, read cheaply; None if not found quickly.

    Only an estimate for ordering work (the decoder checks everything again): a JPEG's
    frame header is looked for among its first ``limit`` segments.
    """
    fmt = sniff_format(data[:HEAD_BYTES])
    if fmt == "PNG" and len(data) >= 24 and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    if fmt == "GIF" and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    if fmt == "WEBP":
        return webp_canvas_size(data[:HEAD_BYTES])
    if fmt in ("HEIF", "AVIF"):
        try:
            return heif_declared_size(data, limit)
        except ValueError:
            return None
    if fmt == "JPEG":
        pos = 2
        for _ in range(limit):
            if pos + 9 > len(data) or data[pos] != 0xFF:
                return None
            marker = data[pos + 1]
            if marker in _JPEG_SOF:
                height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
                return width, height
            if marker == 0xDA or marker in _JPEG_STANDALONE or marker == 0xFF:
                return None
            pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return None


def pixel_cap(settings: Settings) -> int:
    """``NSFW_MAX_PIXELS``: ``Settings`` resolves it from the decoder's memory budget when it is not set."""
    if settings.max_pixels is None:  # only a Settings whose __post_init__ has not run
        return pixels_for_memory(settings.decode_memory_mb)
    return settings.max_pixels
