"""Decode and preprocess untrusted images in child processes held to a CPU and a memory budget.

A hostile image can cost far more than its bytes suggest: a progressive JPEG that repeats
a refinement scan costs minutes of CPU, a 2 KB lossless WebP decodes into gigabytes. Byte
and pixel caps do not see either, so every image is decoded in a decoder process that

* is killed by the kernel when one image has used ``NSFW_DECODE_CPU_S`` seconds of CPU
  (``ITIMER_PROF``, whose default action ends the process; nothing in the decoder can
  postpone it, unlike a Python-level timeout that waits for a C loop to return);
* cannot grow its heap past ``NSFW_DECODE_MEMORY_MB`` (``RLIMIT_DATA``): an allocation over
  it fails inside Pillow or numpy and the image is refused, the worker never sees it;
* writes no files, dumps no core and opens few descriptors;
* hands back only the model's input tensors, never the full-size pixels, so the worker's
  own memory stays flat whatever it is sent; and
* is killed when the request's deadline passes while it still works.

The protocol is a length-prefixed JSON header plus raw bytes each way; nothing from the
decoder is unpickled, so a decoder subverted by its input gains nothing in the worker.
Run as ``python -m nsfw.imaging.sandbox CONFIG_JSON`` by :class:`DecoderPool` only.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import json
import os
import resource
import select
import signal
import struct
import subprocess
import sys
import threading
import time

import numpy as np

from nsfw.errors import (
    CorruptImage,
    DeadlineExceeded,
    ImageTooComplex,
    ImageTooLarge,
    Overloaded,
    ServiceError,
    UnsupportedMedia,
)
from nsfw.imaging.headers import HEAD_BYTES, image_size, sniff_format, webp_canvas_size
from nsfw.settings import DECODER_BASE_MB, MiB, Settings

_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_HEADER = struct.Struct("!II")  # json length, payload length
_MAX_JSON = 64 * 1024
# The CPU budget of one image grows with the pixels it decodes: legitimate decodes cost
# 8-20 ns a pixel here (JPEG to lossy WebP), so 100 ns is five times the worst of them,
# while a small file that makes the decoder work far harder than its size is stopped
# early (a 1 MP scan bomb after 0.35 s, not NSFW_DECODE_CPU_S).
# The express decoder takes images of at most this many pixels (2048 x 2048), with a heap
# to match (64 MB + 16 bytes a pixel for a WebP).
EXPRESS_PIXELS = 4 * 1024 * 1024
EXPRESS_MEMORY_MB = 192
BASE_CPU_S = 0.25
CPU_S_PER_PIXEL = 100e-9
WEBP_BYTES_PER_PIXEL = 16  # measured peak: libwebp's RGBA buffer, Pillow's copy, the RGB array
_ERRORS = {cls.code: cls for cls in (CorruptImage, ImageTooComplex, ImageTooLarge, UnsupportedMedia)}


@dataclasses.dataclass(frozen=True)
class Prepared:
    """What the decoder hands back: the image's facts and one model input per chosen frame."""

    format: str
    width: int
    height: int
    frame_count: int
    tensors: tuple  # float32 arrays of shape (1, size, size, 3)
    decode_ms: float
    preprocess_ms: float


class DecoderPool:
    """Decoder processes of one worker, started lazily and replaced when one is killed.

    ``prepare`` waits for an idle decoder at most until the caller's deadline. Waiting
    images are served smallest first (by the pixel count their headers state), so a
    photo is never stuck behind a queue of 50-megapixel decodes; at most
    ``NSFW_QUEUE_DEPTH`` may wait, and when the queue is full a smaller newcomer takes
    the place of the largest waiting image, which gets ``Overloaded`` (503) at once.

    Besides the ``NSFW_DECODERS`` general decoders there is one express decoder for
    images of at most ``EXPRESS_PIXELS``: whatever large or hostile images occupy the
    others, an ordinary photo finds a decoder within one small image's budget.
    """

    def __init__(self, settings: Settings):
        self._settings = settings
        general = _config(settings, settings.max_pixels, settings.decode_memory_mb)
        express = _config(
            settings, min(settings.max_pixels, EXPRESS_PIXELS), min(settings.decode_memory_mb, EXPRESS_MEMORY_MB)
        )
        self._idle = [_Slot(general) for _ in range(settings.decoders)]
        self._express = [_Slot(express, express=True)]
        self._waiting: list[_Waiter] = []  # a heap, smallest image first
        self._order = itertools.count()
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start every idle decoder now (after the fork), so the first requests do not pay for it."""
        with self._lock:
            slots = self._idle + self._express
            self._idle, self._express = [], []
        try:
            for slot in slots:
                if slot.decoder is None:
                    slot.decoder = _Decoder(slot.config)
        finally:
            for slot in slots:
                self._release(slot)

    def prepare(self, data: bytes, size: int, deadline: float) -> Prepared:
        """Decode ``data`` and build its model inputs of ``size``, before ``deadline`` (monotonic)."""
        slot = self._acquire(data, deadline)
        try:
            if slot.decoder is None or not slot.decoder.alive():
                slot.decoder = _Decoder(slot.config)
            return slot.decoder.run(data, size, deadline, self._settings.max_frames)
        except BaseException:
            if slot.decoder is not None and not slot.decoder.alive():
                slot.decoder = None
            raise
        finally:
            self._release(slot)

    def _acquire(self, data: bytes, deadline: float) -> _Slot:
        dims = image_size(data)
        waiter = _Waiter(dims[0] * dims[1] if dims else 1 << 62, next(self._order))
        with self._lock:
            if waiter.pixels <= EXPRESS_PIXELS and self._express:
                return self._express.pop()
            if self._idle and not self._waiting:
                return self._idle.pop()
            if len(self._waiting) >= self._settings.queue_depth:
                largest = max(self._waiting, default=None)
                if largest is None or not waiter < largest:
                    raise Overloaded("every decoder is busy and the queue is full")
                self._waiting.remove(largest)
                heapq.heapify(self._waiting)
                largest.evicted = True
                largest.ready.set()
            heapq.heappush(self._waiting, waiter)
        waiter.ready.wait(max(0.0, deadline - time.monotonic()))
        with self._lock:
            if waiter.slot is not None:
                return waiter.slot
            if not waiter.evicted:
                self._waiting.remove(waiter)
                heapq.heapify(self._waiting)
        if waiter.evicted:
            raise Overloaded("every decoder is busy and smaller images are waiting")
        raise DeadlineExceeded("the request waited too long for a decoder")

    def _release(self, slot: _Slot) -> None:
        with self._lock:
            if self._waiting and (not slot.express or self._waiting[0].pixels <= EXPRESS_PIXELS):
                waiter = heapq.heappop(self._waiting)
                waiter.slot = slot
                waiter.ready.set()
            else:
                (self._express if slot.express else self._idle).append(slot)

    def close(self) -> None:
        with self._lock:
            slots = self._idle + self._express
            self._idle, self._express = [], []
        for slot in slots:
            if slot.decoder is not None:
                slot.decoder.kill()

    def pids(self) -> list[int]:
        """The idle decoder processes alive now (for tests and the benchmark)."""
        with self._lock:
            return [s.decoder.proc.pid for s in self._idle + self._express if s.decoder and s.decoder.alive()]


def _config(settings: Settings, max_pixels: int, memory_mb: int) -> str:
    return json.dumps(
        {
            "max_pixels": max_pixels,
            "max_frames": settings.max_frames,
            "cpu_seconds": settings.decode_cpu_s,
            "memory_bytes": memory_mb * 1024 * 1024,
        }
    )


@dataclasses.dataclass(eq=False)
class _Slot:
    """A place for one decoder process (started on first use, replaced after a death)."""

    config: str
    express: bool = False
    decoder: _Decoder | None = None


@dataclasses.dataclass(eq=False)
class _Waiter:
    pixels: int
    order: int
    ready: threading.Event = dataclasses.field(default_factory=threading.Event)
    slot: _Slot | None = None
    evicted: bool = False

    def __lt__(self, other: _Waiter) -> bool:
        return (self.pixels, self.order) < (other.pixels, other.order)


class _Decoder:
    """One decoder process and its pipes; used by one thread at a time."""

    def __init__(self, config: str):
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
        # the decoder imports this very package, wherever the worker found it
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (_PACKAGE_PARENT, env.get("PYTHONPATH"))))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nsfw.imaging.sandbox", config],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            close_fds=True,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            pipe.close()

    def run(self, data: bytes, size: int, deadline: float, max_frames: int) -> Prepared:
        try:
            _write(self.proc.stdin, {"size": size}, data)
            header, payload = _read(self.proc.stdout, deadline)
        except TimeoutError:
            self.kill()
            raise DeadlineExceeded("the image was not decoded before the request's deadline") from None
        except (EOFError, OSError, ValueError):
            self.kill()
            raise self._death() from None
        if "error" in header:
            error = header["error"]
            cls = _ERRORS.get(error.get("code"), CorruptImage)
            raise cls(str(error.get("message") or cls.default_message)[:500])
        frames = header["frames"]
        if header["size"] != size or not 1 <= frames <= max_frames or len(payload) != frames * size * size * 12:
            self.kill()
            raise CorruptImage("the decoder answered nonsense")
        tensors = np.frombuffer(payload, dtype=np.float32).reshape(frames, 1, size, size, 3)
        return Prepared(
            format=str(header["format"]),
            width=int(header["width"]),
            height=int(header["height"]),
            frame_count=int(header["frame_count"]),
            tensors=tuple(tensors),
            decode_ms=float(header["decode_ms"]),
            preprocess_ms=float(header["preprocess_ms"]),
        )

    def _death(self) -> ServiceError:
        code = self.proc.returncode
        if code in (-signal.SIGPROF, -signal.SIGXCPU):
            return ImageTooComplex()
        if code == -signal.SIGKILL:  # the kernel's OOM killer; RLIMIT_DATA should have come first
            return ImageTooLarge("decoding the image needs more memory than this service allows")
        return CorruptImage("the decoder failed on this image")


def _write(pipe, header: dict, payload: bytes) -> None:
    raw = json.dumps(header).encode()
    pipe.write(_HEADER.pack(len(raw), len(payload)) + raw)
    pipe.write(payload)
    pipe.flush()


def _read(pipe, deadline: float | None = None) -> tuple[dict, bytes]:
    """One message; TimeoutError if ``deadline`` passes first, EOFError if the peer is gone."""
    head = _read_exactly(pipe, _HEADER.size, deadline)
    json_len, payload_len = _HEADER.unpack(head)
    if json_len > _MAX_JSON:
        raise ValueError("header too long")
    header = json.loads(_read_exactly(pipe, json_len, deadline))
    if not isinstance(header, dict):
        raise ValueError("header is not an object")
    return header, _read_exactly(pipe, payload_len, deadline)


def _read_exactly(pipe, n: int, deadline: float | None) -> bytes:
    fd = pipe.fileno()
    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


# --- the decoder process ---------------------------------------------------------------------
def _confine(memory_bytes: int) -> None:
    """Limits that hold for the decoder's whole life."""
    resource.setrlimit(resource.RLIMIT_DATA, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write fails with EFBIG instead of killing
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (16, 16))
    signal.signal(signal.SIGPROF, signal.SIG_DFL)  # the CPU budget's timer ends the process


def _check_webp_memory(data: bytes, memory_bytes: int) -> None:
    """libwebp decodes into a buffer of its own before Pillow copies it: a WebP costs about
    twice what a JPEG of the same size does, so it is held to half the pixels up front
    (a failed allocation inside libwebp would otherwise look like a corrupt file)."""
    if sniff_format(data[:HEAD_BYTES]) == "WEBP" and (size := webp_canvas_size(data[:HEAD_BYTES])):
        width, height = size
        if width * height * WEBP_BYTES_PER_PIXEL > memory_bytes - DECODER_BASE_MB * MiB:
            raise ImageTooLarge(f"decoding a {width}x{height} WebP needs more memory than this service allows")


def _serve(config: dict) -> None:
    from nsfw.imaging.decode import decode
    from nsfw.imaging.preprocess import to_model_input

    settings = Settings(max_pixels=config["max_pixels"], max_frames=config["max_frames"])
    cpu_seconds = float(config["cpu_seconds"])
    memory_bytes = int(config["memory_bytes"])
    _confine(memory_bytes)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            job, data = _read(stdin)
        except EOFError:
            return
        signal.setitimer(signal.ITIMER_PROF, cpu_seconds)
        started_cpu = time.process_time()

        def budget(pixels: int, started_cpu: float = started_cpu) -> None:
            """Re-arm the timer for what this many pixels may cost, never past NSFW_DECODE_CPU_S."""
            allowed = min(cpu_seconds, BASE_CPU_S + pixels * CPU_S_PER_PIXEL)
            signal.setitimer(signal.ITIMER_PROF, max(0.001, allowed - (time.process_time() - started_cpu)))

        try:
            t0 = time.perf_counter()
            _check_webp_memory(data, memory_bytes)
            image = decode(data, settings, on_header=budget)
            del data
            t1 = time.perf_counter()
            size = int(job["size"])
            tensors = [to_model_input(frame, size) for frame in image.frames]
            t2 = time.perf_counter()
            header = {
                "format": image.format,
                "width": image.width,
                "height": image.height,
                "frame_count": image.frame_count,
                "frames": len(tensors),
                "size": size,
                "decode_ms": round((t1 - t0) * 1000, 3),
                "preprocess_ms": round((t2 - t1) * 1000, 3),
            }
            del image
            payload = b"".join(t.astype(np.float32, copy=False).tobytes() for t in tensors)
        except ServiceError as exc:
            header, payload = {"error": exc.to_dict()}, b""
        except MemoryError:
            header, payload = (
                {"error": ImageTooLarge("decoding the image needs more memory than allowed").to_dict()},
                b"",
            )
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
        _write(stdout, header, payload)


if __name__ == "__main__":
    _serve(json.loads(sys.argv[1]))
