"""The largest picture a HEIF or AVIF file declares, read from its ISO-BMFF boxes before decoding.

The walk is bounded (a box budget) and touches no pixel data. It takes every ``ispe`` property
and the output canvas of every ``grid`` and ``iovl`` (overlay) item: libheif allocates a grid's
canvas from its own descriptor, not from ``ispe``, so a tiny file naming a 60000x60000 grid of
tiles must be refused from that descriptor.
"""

from __future__ import annotations

from collections.abc import Iterator

# item type -> bytes between version and flags and the output size: a grid's rows and columns,
# an overlay's four 16-bit fill values
_CANVAS_ITEMS = {b"grid": 2, b"iovl": 8}


def _boxes(data: bytes, start: int, end: int, budget: list[int]) -> Iterator[tuple[bytes, int, int]]:
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
