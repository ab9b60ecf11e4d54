"""Video containers recognised by their first bytes, as ``headers.py`` does for images.

Only MP4/MOV (ISO-BMFF with a video brand, or an old QuickTime file starting with a known atom)
and WebM/Matroska (an EBML header whose DocType says so) are videos; HEIF and AVIF stills share
ISO-BMFF but not its video brands. Nothing here needs PyAV, so the web layer and the pipeline
pick a byte cap and a decoder path without importing it.
"""

from __future__ import annotations

HEAD_BYTES = 64  # what sniff() needs
# ISO-BMFF major brands of video files (MP4, MOV, 3GP, M4V); HEIF/AVIF stills are not among them.
VIDEO_BRANDS = frozenset(
    b.ljust(4).encode()
    for b in (
        "isom", "iso2", "iso3", "iso4", "iso5", "iso6", "mp41", "mp42", "avc1", "hvc1", "av01", "qt", "M4V",
        "M4VH", "M4VP", "mmp4", "3gp4", "3gp5", "3gp6", "3g2a", "dash", "MSNV", "XAVC", "f4v", "cmfc",
    )
)  # fmt: skip
QUICKTIME_ATOMS = frozenset({b"moov", b"mdat", b"wide", b"free"})  # old MOVs start without ftyp


def sniff(head: bytes) -> str | None:
    """The FFmpeg demuxer for a video container's first bytes ("mov" or "matroska"), else None."""
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "mov" if head[8:12] in VIDEO_BRANDS else None
    if len(head) >= 8 and head[4:8] in QUICKTIME_ATOMS:
        return "mov"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska" if _ebml_doctype(head) in (b"webm", b"matroska") else None
    return None


def format_name(head: bytes) -> str | None:
    """The format a video answers as: "MP4", "MOV", "WEBM" or "MATROSKA"; None if not a video."""
    demuxer = sniff(head)
    if demuxer == "mov":
        return "MOV" if head[4:8] != b"ftyp" or head[8:12] == b"qt  " else "MP4"
    if demuxer == "matroska":
        return "WEBM" if _ebml_doctype(head) == b"webm" else "MATROSKA"
    return None


def _ebml_doctype(head: bytes) -> bytes | None:
    """The DocType element (0x4282) of an EBML header, read within ``head``."""
    size, pos = _vint(head, 4)
    if size is None:
        return None
    end = min(len(head), pos + size)
    while pos < end:
        if head[pos : pos + 2] == b"\x42\x82":
            length, start = _vint(head, pos + 2)
            return None if length is None else head[start : start + length]
        # skip one element: an ID of 1-4 bytes (its length marked like a vint), then a size vint
        first = head[pos]
        id_len = 1 if first & 0x80 else 2 if first & 0x40 else 3 if first & 0x20 else 4 if first & 0x10 else 0
        if not id_len:
            return None
        length, start = _vint(head, pos + id_len)
        if length is None:
            return None
        pos = start + length
    return None


def _vint(data: bytes, pos: int) -> tuple[int | None, int]:
    """An EBML variable-length size at ``pos``: (value, position after it); None if unreadable."""
    if pos >= len(data) or data[pos] == 0:
        return None, pos
    first = data[pos]
    width = 8 - first.bit_length() + 1
    if pos + width > len(data):
        return None, pos
    value = first & (0xFF >> width)
    for byte in data[pos + 1 : pos + width]:
        value = value << 8 | byte
    return value, pos + width
