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
* :func:`heif_declared_size` walks the ISO-BMFF boxes of a HEIF or AVIF file
  (bounded, no pixel data touched) for the largest picture it declares: every
  ``ispe`` property and the output canvas of every ``grid`` and ``iovl``
  (overlay) item. libheif allocates a grid's canvas from its own descriptor,
  not from ``ispe``, so a tiny file naming a 60000x60000 grid of tiles must be
  refused from that descriptor.
"""

from __future__ import annotations

import dataclasses
import struct

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


# --- HEIF and AVIF (ISO-BMFF) ------------------------------------------------------------------
# item type -> bytes between version and flags and the output size: a grid's rows and columns,
# an overlay's four 16-bit fill values
_CANVAS_ITEMS = {b"grid": 2, b"iovl": 8}


def _boxes(data: bytes, start: int, end: int, budget: list[int]):
    """(type, payload start, payload end) of the boxes in ``data[start:end]``; ValueError if malformed."""
    pos = start
    while pos + 8 <= end:
        budget[0] -= 1
        if budget[0] < 0:
            raise ValueError("too many boxes")
        size, kind = int.from_bytes(data[pos : pos + 4], "big"), data[pos + 4 : pos + 8]
        header = 8
        if size == 1:
            if pos + 16 > end:
                raise ValueError("truncated box header")
            size, header = int.from_bytes(data[pos + 8 : pos + 16], "big"), 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise ValueError(f"box {kind!r} runs past its parent")
        yield kind, pos + header, pos + size
        pos += size


def _uint(data: bytes, pos: int, size: int, end: int) -> tuple[int, int]:
    if pos + size > end:
        raise ValueError("truncated box")
    return int.from_bytes(data[pos : pos + size], "big"), pos + size


def heif_declared_size(data: bytes, limit: int) -> tuple[int, int] | None:
    """The largest width x height a HEIF/AVIF file declares, or None if it declares none.

    Counts every ``ispe`` (image spatial extents) property and the output size of every
    ``grid`` and ``iovl`` item, whatever item they belong to: a decoder allocates each of
    them, and a file whose sizes disagree is refused anyway. At most ``limit`` boxes and
    items are read. ValueError if the boxes it needs are malformed or past the limit.
    """
    budget = [limit]
    meta = next(((s, e) for kind, s, e in _boxes(data, 0, len(data), budget) if kind == b"meta"), None)
    if meta is None:
        return None
    sizes: list[tuple[int, int]] = []
    canvases: dict[int, int] = {}  # item id -> bytes before its output size
    locations: dict[int, tuple[int, int]] = {}  # item id -> (construction method, absolute or idat offset)
    idat = None
    for kind, start, end in _boxes(data, meta[0] + 4, meta[1], budget):  # meta is a full box
        if kind == b"iprp":
            for kind2, start2, end2 in _boxes(data, start, end, budget):
                if kind2 == b"ipco":
                    for kind3, start3, end3 in _boxes(data, start2, end2, budget):
                        if kind3 == b"ispe":
                            width, pos = _uint(data, start3 + 4, 4, end3)
                            height, _ = _uint(data, pos, 4, end3)
                            sizes.append((width, height))
        elif kind == b"iinf":
            canvases.update(_canvas_items(data, start, end, budget))
        elif kind == b"iloc":
            locations = _item_locations(data, start, end, budget)
        elif kind == b"idat":
            idat = (start, end)
    for item, skip in canvases.items():
        if item not in locations:
            raise ValueError("a grid or overlay item has no location")
        method, offset = locations[item]
        if method == 1:
            if idat is None:
                raise ValueError("a grid or overlay item is in a missing idat box")
            offset += idat[0]
        elif method != 0:
            raise ValueError("a grid or overlay item is stored in a way this service does not read")
        flags, pos = _uint(data, offset + 1, 1, len(data))
        pos += skip
        field = 4 if flags & 1 else 2
        width, pos = _uint(data, pos, field, len(data))
        height, _ = _uint(data, pos, field, len(data))
        sizes.append((width, height))
    return max(sizes, key=lambda s: s[0] * s[1], default=None)


def _canvas_items(data: bytes, start: int, end: int, budget: list[int]) -> dict[int, int]:
    """Item id -> the offset of its output size, for every grid and overlay item in ``iinf``."""
    version = data[start] if start < end else 0
    pos = start + 4 + (2 if version == 0 else 4)  # full box, entry count
    found = {}
    for kind, s, e in _boxes(data, pos, end, budget):
        if kind != b"infe" or s >= e or data[s] < 2:  # versions 0 and 1 carry no item type
            continue
        id_size = 2 if data[s] == 2 else 4
        item, pos2 = _uint(data, s + 4, id_size, e)
        item_type = data[pos2 + 2 : pos2 + 6]  # after the protection index
        if item_type in _CANVAS_ITEMS:
            found[item] = _CANVAS_ITEMS[item_type]
    return found


def _item_locations(data: bytes, start: int, end: int, budget: list[int]) -> dict[int, tuple[int, int]]:
    """Item id -> (construction method, offset of its first extent) from an ``iloc`` box."""
    version, pos = _uint(data, start, 1, end)
    pos += 3
    sizes, pos = _uint(data, pos, 2, end)
    offset_size, length_size, base_size = sizes >> 12, (sizes >> 8) & 15, (sizes >> 4) & 15
    index_size = sizes & 15 if version in (1, 2) else 0
    count, pos = _uint(data, pos, 2 if version < 2 else 4, end)
    found = {}
    for _ in range(count):
        budget[0] -= 1
        if budget[0] < 0:
            raise ValueError("too many items")
        item, pos = _uint(data, pos, 2 if version < 2 else 4, end)
        method = 0
        if version in (1, 2):
            method, pos = _uint(data, pos, 2, end)
            method &= 15
        pos += 2  # data reference index
        base, pos = _uint(data, pos, base_size, end)
        extents, pos = _uint(data, pos, 2, end)
        first = None
        budget[0] -= extents
        if budget[0] < 0:
            raise ValueError("too many extents")
        for _ in range(extents):
            pos += index_size
            offset, pos = _uint(data, pos, offset_size, end)
            pos += length_size
            first = offset if first is None else first
        if pos > end:
            raise ValueError("truncated iloc box")
        found[item] = (method, base + (first or 0))
    return found
