"""The decoder processes: whatever an image costs, the worker pays a bounded price.

Real decoder processes, real hostile images built at test time (tests/hostile_images.py).
"""

from __future__ import annotations

import os
import resource
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import IMAGES
from hostile_images import lossless_webp_bomb, scan_bomb_jpeg

from nsfw.errors import (
    CorruptImage,
    DeadlineExceeded,
    ImageTooComplex,
    ImageTooLarge,
    Overloaded,
    ServiceError,
    UnsupportedMedia,
)
from nsfw.imaging.decode import decode
from nsfw.imaging.preprocess import to_model_input
from nsfw.imaging.sandbox import DecoderPool
from nsfw.settings import Settings


@pytest.fixture
def make_pool():
    pools = []

    def make(**changes):
        pool = DecoderPool(Settings().replace(**changes))
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.close()


def soon(seconds=10.0):
    return time.monotonic() + seconds


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def test_the_decoder_gives_exactly_what_decoding_here_gives(make_pool):
    pool = make_pool()
    data = (IMAGES / "chelsea.png").read_bytes()
    prepared = pool.prepare(data, 224, soon())
    local = decode(data, Settings())
    assert (prepared.format, prepared.width, prepared.height) == ("PNG", local.width, local.height)
    assert len(prepared.tensors) == 1
    np.testing.assert_array_equal(prepared.tensors[0], to_model_input(local.frames[0], 224))


def test_the_decoder_inherits_no_nsfw_variable_so_no_secret(make_pool, monkeypatch):
    monkeypatch.setenv("NSFW_SECRET_KEY", "s" * 40)
    monkeypatch.setenv("NSFW_REVIEW_WEBHOOK_SECRET", "hook-secret")
    pool = make_pool()
    pool.start()
    pool.prepare((IMAGES / "chelsea.png").read_bytes(), 224, soon())  # and decoding needs none of them
    for _ in range(100):  # a decoder still starting shows an empty environment until it has exec'd
        environs = [(Path("/proc") / str(pid) / "environ").read_bytes() for pid in pool.pids()]
        if all(environs):
            break
        time.sleep(0.05)
    assert environs and all(b"NSFW_" not in environ and b"PYTHONPATH=" in environ for environ in environs)


def test_typed_errors_come_back_typed_and_the_decoder_survives(make_pool):
    pool = make_pool(decoders=1)
    with pytest.raises(UnsupportedMedia):
        pool.prepare(b"not an image at all", 224, soon())
    with pytest.raises(CorruptImage):
        pool.prepare((IMAGES / "chelsea.png").read_bytes()[:2000], 224, soon())
    pids = set(pool.pids())
    pool.prepare((IMAGES / "chelsea.png").read_bytes(), 224, soon())
    assert set(pool.pids()) == pids


def test_scan_bomb_is_stopped_at_the_cpu_budget(make_pool):
    pool = make_pool(decoders=1, decode_cpu_s=1.0)
    bomb = scan_bomb_jpeg(3000, 2048)  # about 11 s of CPU if left alone
    pool.start()
    first = set(pool.pids())
    cpu, started = children_cpu(), time.monotonic()
    with pytest.raises(ImageTooComplex):
        pool.prepare(bomb, 224, soon(30))
    elapsed, spent = time.monotonic() - started, children_cpu() - cpu
    assert spent <= 1.5 and elapsed < 5, (spent, elapsed)
    # the killed decoder is replaced, and the next image is decoded as usual
    pool.prepare((IMAGES / "chelsea.png").read_bytes(), 224, soon())
    assert len(pool.pids()) == 2 and set(pool.pids()) != first


def test_memory_bomb_is_refused_and_the_worker_never_holds_its_pixels(make_pool):
    pool = make_pool(decoders=1)
    bomb = lossless_webp_bomb(7071)  # 50 MP: under the pixel cap, over the memory budget
    assert len(bomb) < 4096 and 7071 * 7071 <= pool._settings.max_pixels
    before = _rss_mb(os.getpid())
    with pytest.raises(ImageTooLarge, match="memory"):
        pool.prepare(bomb, 224, soon(30))
    assert _rss_mb(os.getpid()) - before < 20


def test_a_48_megapixel_photo_still_classifies(make_pool):
    pool = make_pool(decoders=1)
    rng = np.random.default_rng(1)
    import io

    from PIL import Image

    small = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    big = Image.fromarray(small).resize((8000, 6000))
    buf = io.BytesIO()
    big.save(buf, "JPEG", quality=85)
    prepared = pool.prepare(buf.getvalue(), 224, soon(60))
    assert (prepared.width, prepared.height) == (8000, 6000)
    (pid,) = pool.pids()
    assert _hwm_mb(pid) <= 448 + 40  # the decoder stays within its budget (plus shared libraries)


def test_the_largest_accepted_photo_decodes_again_and_again(make_pool):
    """Nothing of one image (its last frame above all) outlives it in the decoder, and the heap
    kept for smaller images is handed back: each large photo gets the whole memory budget."""
    import io

    from PIL import Image

    pool = make_pool(decoders=1)
    side = int(pool._settings.max_pixels**0.5)
    large = io.BytesIO()
    Image.new("RGB", (side, side), (90, 140, 200)).save(large, "JPEG", quality=90)
    medium = io.BytesIO()  # over the express decoder's size: the general one serves it too
    Image.open(IMAGES / "astronaut_640x480.jpg").resize((2400, 1800)).save(medium, "JPEG", quality=90)
    for _ in range(2):
        for _ in range(2):  # back to back: the first one's pixels must be gone
            assert pool.prepare(large.getvalue(), 224, soon(60)).width == side
        for _ in range(5):
            pool.prepare(medium.getvalue(), 224, soon())


def test_the_deadline_kills_a_decode_in_progress(make_pool):
    pool = make_pool(decoders=1, decode_cpu_s=30.0)
    bomb = scan_bomb_jpeg(3000, 2048)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        pool.prepare(bomb, 224, soon(0.5))
    assert time.monotonic() - started < 2
    pool.prepare((IMAGES / "chelsea.png").read_bytes(), 224, soon())


def test_a_full_queue_is_refused_at_once_but_small_images_take_the_express_decoder(make_pool):
    pool = make_pool(decoders=1, queue_depth=0, decode_cpu_s=30.0)
    pool.start()
    general = pool._idle[0].decoder.proc.pid
    idle_cpu = _settled_cpu(general)
    hog = scan_bomb_jpeg(3000, 2560)  # 6.5 MP: a general decoder's work, about 1 s of its CPU
    busy = threading.Thread(
        target=lambda: pytest.raises((DeadlineExceeded, ImageTooComplex), pool.prepare, hog, 224, soon(3))
    )
    busy.start()
    while _cpu_of(general) < idle_cpu + 0.05:  # the hog holds the general decoder
        time.sleep(0.01)
    newcomer = scan_bomb_jpeg(1, 2560)
    with pytest.raises(Overloaded) as caught:
        pool.prepare(newcomer, 224, soon())
    # refused while the hog still holds the decoder: it did not wait for it (ordering, not a stopwatch)
    assert busy.is_alive() and caught.value.retry_after == 1
    # an ordinary photo does not wait for the general decoder at all
    pool.prepare((IMAGES / "chelsea.png").read_bytes(), 224, soon())
    assert busy.is_alive()
    busy.join(10)


def test_a_decoder_that_dies_is_an_error_for_its_image_only(make_pool):
    pool = make_pool(decoders=1, decode_cpu_s=30.0)
    pool.start()
    general = pool._idle[0].decoder.proc.pid
    idle_cpu = _settled_cpu(general)  # its start-up (imports) is over: it waits for an image

    def kill_once_decoding():
        # killed once it has spent 0.1 s on the image, far inside its ~1 s CPU budget: a fixed
        # wall-clock timer fired late on a loaded machine, after the budget had ended the decode
        while _cpu_of(general) < idle_cpu + 0.1:
            time.sleep(0.01)
        os.kill(general, signal.SIGSEGV)

    killer = threading.Thread(target=kill_once_decoding, daemon=True)
    killer.start()
    with pytest.raises(CorruptImage, match="decoder failed"):
        pool.prepare(scan_bomb_jpeg(3000, 2560), 224, soon())
    killer.join(10)
    pool.prepare((IMAGES / "chelsea.png").read_bytes(), 224, soon())


def _cpu_of(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _settled_cpu(pid: int) -> float:
    """The process's CPU time once it has stopped growing for a while (it is idle)."""
    last, still = _cpu_of(pid), 0
    while still < 5:
        time.sleep(0.05)
        now = _cpu_of(pid)
        still, last = (still + 1, last) if now == last else (0, now)
    return last


def _status(pid: int, field: str) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise AssertionError(field)


def _rss_mb(pid: int) -> float:
    return _status(pid, "VmRSS")


def _hwm_mb(pid: int) -> float:
    return _status(pid, "VmHWM")


def test_the_cpu_budget_shrinks_with_the_pixels(make_pool):
    """A small image may not burn the whole NSFW_DECODE_CPU_S: its budget follows its pixels."""
    pool = make_pool(decoders=1, decode_cpu_s=10.0)
    pool.start()
    bomb = scan_bomb_jpeg(3000, 1024)  # 1 MP: 0.25 s + 0.1 s, in the express decoder
    express = pool._express[0].decoder.proc.pid
    startup, cpu = _cpu_of(express), children_cpu()
    with pytest.raises(ImageTooComplex):
        pool.prepare(bomb, 224, soon(30))
    assert children_cpu() - cpu - startup < 0.6  # the killed decoder's whole life, less its start


def test_waiting_images_are_served_smallest_first_and_a_full_queue_sheds_the_largest(make_pool):
    pool = make_pool(decoders=1, queue_depth=1, decode_cpu_s=3.0)
    pool.start()
    outcomes = {}

    def run(name, data, delay):
        time.sleep(delay)
        try:
            pool.prepare(data, 224, soon(20))
            outcomes[name] = "ok"
        except ServiceError as exc:
            outcomes[name] = exc.code

    # all three are too big for the express decoder; only their sizes matter here
    hog = threading.Thread(target=run, args=("hog", scan_bomb_jpeg(3000, 2560), 0))
    bigger = threading.Thread(target=run, args=("bigger", scan_bomb_jpeg(1, 3072), 0.2))
    smaller = threading.Thread(target=run, args=("smaller", scan_bomb_jpeg(1, 2560), 0.4))
    for thread in (hog, bigger, smaller):
        thread.start()
    for thread in (hog, bigger, smaller):
        thread.join(30)
    # the queue held one place: the bigger image had it, the smaller one took it over
    assert outcomes == {"hog": "image_too_complex", "bigger": "overloaded", "smaller": "ok"}


def test_every_decoder_start_and_death_is_reported_with_its_reason():
    """What nsfw_decoder_starts_total and nsfw_decoder_deaths_total count (through the Detector's observers)."""
    events = []
    pool = DecoderPool(Settings().replace(decoders=1, decode_cpu_s=1.0), on_decoder=events.append)
    try:
        pool.start()
        assert events == ["started", "started"]  # the general decoder and the express one
        bomb = scan_bomb_jpeg(3000, 2048)
        with pytest.raises(DeadlineExceeded):
            pool.prepare(bomb, 224, soon(0.3))
        with pytest.raises(ImageTooComplex):
            pool.prepare(bomb, 224, soon(30))
        pool.prepare((IMAGES / "chelsea.png").read_bytes(), 224, soon())
    finally:
        pool.close()
    assert events[2:] == ["deadline", "started", "cpu", "started"]  # each replaced for the next image
