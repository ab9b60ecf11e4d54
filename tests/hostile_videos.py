"""Videos built by the tests, hostile ones among them (nothing hostile is committed).

PyAV writes the well-formed ones; the hostile ones are those edited byte by byte:
ISO-BMFF boxes are parsed and rewritten with :func:`edit_boxes`, so a box that grows
or shrinks keeps every parent's size right (the muxer puts ``moov`` after ``mdat``,
so no chunk offset moves).
"""

from __future__ import annotations

import io
import itertools
import struct
from collections.abc import Callable, Iterable

import av
import numpy as np

av.logging.set_level(None)  # the encoders' chatter

# boxes whose payload is a sequence of boxes (after a fixed prefix, for stsd and dref)
CONTAINERS = {b"moov": 0, b"trak": 0, b"mdia": 0, b"minf": 0, b"dinf": 0, b"stbl": 0, b"edts": 0, b"dref": 8}


def frames_of(count: int, width: int, height: int, seed: int = 0) -> list[np.ndarray]:
    """Distinct RGB frames: a colour ramp with a block of noise, each its own."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(count):
        frame = np.empty((height, width, 3), np.uint8)
        frame[...] = ((i * 37) % 256, (i * 91) % 256, (255 - i * 13) % 256)
        frame[: height // 3, : width // 3] = rng.integers(0, 256, (height // 3, width // 3, 3), dtype=np.uint8)
        frames.append(frame)
    return frames


def encode(
    frames: Iterable[np.ndarray],
    codec: str = "libx264",
    container: str = "mp4",
    rate: int = 10,
    pix_fmt: str = "yuv420p",
    options: dict | None = None,
    gop: int | None = None,
) -> bytes:
    """``frames`` (RGB; a list, or a generator for long or large videos) as a video in memory."""
    frames = iter(frames)
    first = next(frames)
    height, width = first.shape[:2]
    buf = io.BytesIO()
    with av.open(buf, "w", format=container) as out:
        stream = out.add_stream(codec, rate=rate, options=options or {})
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if gop:
            stream.codec_context.gop_size = gop
        for frame in itertools.chain([first], frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def moving_frames(count: int, width: int, height: int):
    """``count`` frames of a gradient with a bright square crossing it, made one at a time."""
    ramp = np.linspace(0, 255, width, dtype=np.float32)
    base = np.empty((height, width, 3), np.uint8)
    base[...] = np.stack([ramp, ramp[::-1], np.full(width, 128, np.float32)], axis=1)[np.newaxis].astype(np.uint8)
    side = max(8, height // 6)
    for i in range(count):
        frame = base.copy()
        x = (i * 16) % max(1, width - side)
        frame[height // 3 : height // 3 + side, x : x + side] = 255
        yield frame


def lossless_h264(frames: list[np.ndarray], container: str = "mp4", rate: int = 10) -> bytes:
    """H.264 in RGB (libx264rgb, qp 0): decodes to exactly the frames given."""
    return encode(frames, "libx264rgb", container, rate, "rgb24", {"qp": "0"})


def sample(seconds: float = 3.0, rate: int = 10, width: int = 96, height: int = 64, **kwargs) -> bytes:
    return encode(frames_of(int(seconds * rate), width, height), rate=rate, **kwargs)


# --- ISO-BMFF boxes -------------------------------------------------------------------------
def parse_boxes(data: bytes) -> list:
    """[(type, payload or children)] of a run of boxes."""
    out, pos = [], 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if size < 8 or pos + size > len(data):
            raise ValueError(f"box {kind!r} at {pos} has size {size}")
        payload = data[pos + 8 : pos + size]
        if kind in CONTAINERS:
            prefix = CONTAINERS[kind]
            out.append((kind, (payload[:prefix], parse_boxes(payload[prefix:]))))
        else:
            out.append((kind, payload))
        pos += size
    return out


def build_boxes(boxes: list) -> bytes:
    parts = []
    for kind, body in boxes:
        if isinstance(body, tuple):
            prefix, children = body
            body = prefix + build_boxes(children)
        parts.append(struct.pack(">I4s", 8 + len(body), kind) + body)
    return b"".join(parts)


def edit_boxes(data: bytes, edit: Callable[[bytes, bytes, tuple], bytes | None]) -> bytes:
    """Rewrite every leaf box: ``edit(type, payload, path) -> new payload`` (None keeps it)."""

    def walk(boxes, path):
        out = []
        for kind, body in boxes:
            if isinstance(body, tuple):
                out.append((kind, (body[0], walk(body[1], (*path, kind)))))
            else:
                new = edit(kind, body, (*path, kind))
                out.append((kind, body if new is None else new))
        return out

    return build_boxes(walk(parse_boxes(data), ()))


def rotated(data: bytes, quarter_turns_clockwise: int = 1) -> bytes:
    """``data`` (an MP4/MOV) with its track's display matrix turning it clockwise, as a phone's
    portrait video is stored: sideways, with a matrix saying how to show it."""
    a, b, c, d = {1: (0, 1, -1, 0), 2: (-1, 0, 0, -1), 3: (0, -1, 1, 0)}[quarter_turns_clockwise % 4]
    matrix = struct.pack(">9i", a << 16, b << 16, 0, c << 16, d << 16, 0, 0, 0, 1 << 30)

    def edit(kind, payload, path):
        if kind == b"tkhd" and payload[0] == 0:
            return payload[:40] + matrix + payload[76:]
        return None

    return edit_boxes(data, edit)


# --- hostile files ---------------------------------------------------------------------------
def external_reference_mov(url: str) -> bytes:
    """A MOV whose only track's data lives at ``url`` (a Macintosh alias data reference, absolute path)."""
    data = without_media_data(encode(frames_of(10, 64, 48), container="mov"))
    path = url.encode()
    alias = bytearray()
    alias += b"\0" * 10  # creator, record size, version, kind
    alias += bytes([6]) + b"volume".ljust(27, b"\0")
    alias += b"\0" * 12  # creation date, fs type, disk type
    alias += bytes([5]) + b"x.mov".ljust(63, b"\0")
    alias += b"\0" * 16  # parent/file ids, creation date, creator/type
    alias += b"\0" * 20  # levels up from the alias and down to the target, and more
    alias += struct.pack(">hH", 18, len(path)) + path + (b"\0" if len(path) % 2 else b"")  # 18: absolute path
    alias += struct.pack(">hH", -1, 0)
    entry = struct.pack(">I4sI", 12 + len(alias), b"alis", 0) + bytes(alias)  # flags 0: not in this file

    boxes = parse_boxes(data)

    def swap(items):
        out = []
        for kind, body in items:
            if kind == b"dref":
                out.append((kind, (struct.pack(">II", 0, 1), [(b"alis", entry[8:])])))
            elif isinstance(body, tuple):
                out.append((kind, (body[0], swap(body[1]))))
            else:
                out.append((kind, body))
        return out

    return build_boxes(swap(boxes))


def long_declared_mp4(hours: float = 10.0) -> bytes:
    """A few frames whose movie, track and media headers declare ``hours`` of duration."""
    data = sample(1.0)

    def edit(kind, payload, path):
        if kind in (b"mvhd", b"mdhd") and payload[0] == 0:
            timescale = struct.unpack(">I", payload[12:16])[0]
            return payload[:16] + struct.pack(">I", int(hours * 3600 * timescale)) + payload[20:]
        if kind == b"tkhd" and payload[0] == 0:
            return payload[:20] + struct.pack(">I", int(hours * 3600 * 1000)) + payload[24:]
        if kind == b"elst" and payload[0] == 0:  # the edit: hours of the media, in the movie's 1/1000 s
            return payload[:8] + struct.pack(">I", int(hours * 3600 * 1000)) + payload[12:]
        if kind == b"stts":  # every sample lasts hours / count
            count = struct.unpack(">I", payload[4:8])[0]
            entries = [struct.unpack(">II", payload[8 + 8 * i : 16 + 8 * i]) for i in range(count)]
            samples = sum(n for n, _ in entries)
            return payload[:4] + struct.pack(">III", 1, samples, int(hours * 3600 * 10240 / samples))
        return None

    return edit_boxes(data, edit)


def timestamp_bomb_mp4() -> bytes:
    """Sane movie headers, no edit list, but the sample table stamps each frame 2^31 ticks
    (about 58 hours) after the one before."""
    data = sample(1.0)
    boxes = parse_boxes(data)

    def drop_edits(items):
        return [
            (kind, (body[0], drop_edits(body[1])) if isinstance(body, tuple) else body)
            for kind, body in items
            if kind != b"edts"
        ]

    data = build_boxes(drop_edits(boxes))

    def edit(kind, payload, path):
        if kind == b"stts":
            count = struct.unpack(">I", payload[4:8])[0]
            entries = [struct.unpack(">II", payload[8 + 8 * i : 16 + 8 * i]) for i in range(count)]
            samples = sum(n for n, _ in entries)
            return payload[:4] + struct.pack(">III", 1, samples, 0x7FFFFFFF)
        return None

    return edit_boxes(data, edit)


def without_media_data(data: bytes) -> bytes:
    """The same boxes with the media data gone: every sample offset points at nothing of it."""
    boxes = [(kind, b"" if kind == b"mdat" else body) for kind, body in parse_boxes(data)]
    return build_boxes(boxes)


def huge_vp8_webm(width: int = 16383, height: int = 16383) -> bytes:
    """A small VP8 WebM whose key frames' headers (not the container) declare width x height."""
    data = bytearray(encode(frames_of(5, 64, 48), "libvpx", "webm"))
    pos = 0
    while (pos := data.find(b"\x9d\x01\x2a", pos)) != -1:  # the VP8 key frame start code
        data[pos + 3 : pos + 7] = struct.pack("<HH", width, height)
        pos += 7
    return bytes(data)


def many_streams_mp4(count: int = 5000) -> bytes:
    """A small MP4 whose movie box repeats its one track ``count`` times (all reading the same data)."""
    boxes = parse_boxes(sample(0.5))
    out = []
    for kind, body in boxes:
        if kind == b"moov":
            prefix, children = body
            track = next(child for child in children if child[0] == b"trak")
            children = [child for child in children if child[0] != b"trak"] + [track] * count
            body = (prefix, children)
        out.append((kind, body))
    return build_boxes(out)


def corrupt(data: bytes, seed: int = 1, fraction: float = 0.05) -> bytes:
    """``data`` with a fraction of its bytes past the first 64 replaced by noise."""
    rng = np.random.default_rng(seed)
    out = bytearray(data)
    positions = rng.integers(64, len(out), int(len(out) * fraction))
    out_arr = np.frombuffer(out, np.uint8).copy()
    out_arr[positions] = rng.integers(0, 256, len(positions), dtype=np.uint8)
    return out_arr.tobytes()
