"""PDQ hashes: the reference's bits and hex, computed in the decoder, per frame, within its budgets.

The reference is ``pdqhash`` (Meta's C++ PDQ) on the full decoded pixels; the service hashes a
bounded lattice of them (nsfw/imaging/pdq.py), which moves a few bits.
"""

from __future__ import annotations

import io
import time

import numpy as np
import pdqhash
import pytest
from helpers import IMAGES
from PIL import Image

from nsfw.errors import CorruptImage, CorruptVideo
from nsfw.imaging import wire
from nsfw.imaging.decode import decode
from nsfw.imaging.pdq import MIN_QUALITY, Pdq, hash_frame
from nsfw.imaging.sandbox import DecoderPool
from nsfw.settings import Settings

PHOTOS = sorted(p for p in IMAGES.iterdir() if p.suffix in (".jpg", ".png"))
# measured on these images and 4.3 MP versions of them: 0 to 16 bits (docs/known-content.md)
MOST_BITS_MOVED = 16


def reference(rgb: np.ndarray) -> Pdq:
    """pdqhash of every pixel, written in ThreatExchange's hex."""
    bits, quality = pdqhash.compute(np.ascontiguousarray(rgb))
    return Pdq(np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex(), int(quality))


def distance(a: Pdq, b: Pdq) -> int:
    return (int(a.hash, 16) ^ int(b.hash, 16)).bit_count()


def pixels(path) -> np.ndarray:
    return decode(path.read_bytes(), Settings()).frames[0]


@pytest.fixture
def pool():
    made = DecoderPool(Settings().replace(decoders=1))
    yield made
    made.close()


def test_a_64_pixel_square_is_hashed_exactly_as_the_reference_hashes_it():
    """At PDQ's own 64x64 there is nothing to sample or average: the bits and quality are the
    reference's, and the hex is its bit vector most significant bit first (ThreatExchange's)."""
    rgb = np.asarray(Image.open(IMAGES / "chelsea.png").convert("RGB").resize((64, 64)))
    assert hash_frame(rgb) == reference(rgb)
    bits, _ = pdqhash.compute(np.ascontiguousarray(rgb))
    assert hash_frame(rgb).hash[0] == format(int("".join(map(str, bits[:4])), 2), "x")


@pytest.mark.parametrize("path", PHOTOS, ids=lambda p: p.name)
def test_the_hash_is_the_reference_hash_of_the_full_pixels_within_a_few_bits(path):
    rgb = pixels(path)
    assert distance(hash_frame(rgb), reference(rgb)) <= MOST_BITS_MOVED
    large = np.asarray(Image.fromarray(rgb).resize((2400, 1800), Image.Resampling.BICUBIC))
    assert distance(hash_frame(large), reference(large)) <= MOST_BITS_MOVED
    assert hash_frame(rgb).quality >= MIN_QUALITY and hash_frame(rgb).matchable


@pytest.mark.parametrize("colour", [(0, 0, 0), (255, 255, 255), (90, 140, 200)])
def test_a_flat_colour_has_quality_zero_and_is_flagged(colour):
    pdq = hash_frame(np.full((480, 640, 3), colour, dtype=np.uint8))
    assert pdq.quality == 0 and not pdq.matchable
    assert len(pdq.hash) == 64


def test_hashing_does_not_grow_with_the_pixels():
    """12 MP costs about what 640x480 does: a fixed lattice (bench/pdq_cost.py has the figures)."""
    rng = np.random.default_rng(3)
    big = np.asarray(Image.fromarray(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)).resize((4000, 3000)))
    hash_frame(big)  # imports and plans
    started = time.process_time()
    for _ in range(20):
        hash_frame(big)
    per_hash = (time.process_time() - started) / 20
    assert per_hash < 0.02  # a ceiling far above the 0.5 ms measured; pdqhash of the full pixels: ~0.5 s


@pytest.mark.parametrize(
    "value",
    [
        None,
        "ab" * 32,
        ["AB" * 32, 100],
        ["ab" * 31, 100],
        ["ab" * 32, 101],
        ["ab" * 32, -1],
        ["ab" * 32, True],
        ["ab" * 32, 50.0],
        {"hash": "zz" * 32, "quality": 3},
        ["ab" * 32, 100, 1],
    ],
)
def test_a_malformed_hash_is_refused(value):
    with pytest.raises(ValueError):
        Pdq.parse(value)
    with pytest.raises(CorruptImage):
        wire.parse_pdq(value, CorruptImage)
    with pytest.raises(CorruptVideo):
        wire.parse_pdq(value, CorruptVideo)


def test_parse_takes_both_wire_forms():
    pdq = Pdq("0f" * 32, 77)
    assert Pdq.parse(pdq.to_dict()) == Pdq.parse([pdq.hash, pdq.quality]) == pdq


def test_the_decoder_hashes_the_pixels_it_decodes(pool):
    data = (IMAGES / "astronaut_640x480.jpg").read_bytes()
    prepared = pool.prepare(data, 224, time.monotonic() + 20)
    assert prepared.pdq == (hash_frame(decode(data, Settings()).frames[0]),)


def test_every_classified_frame_of_an_animation_is_hashed(pool):
    frames = [Image.open(path).convert("RGB").resize((320, 240)) for path in PHOTOS[:3]]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    prepared = pool.prepare(buf.getvalue(), 224, time.monotonic() + 20)
    expected = tuple(hash_frame(frame) for frame in decode(buf.getvalue(), Settings()).frames)
    assert len(prepared.pdq) == len(prepared.tensors) == 3
    assert prepared.pdq == expected and len(set(prepared.pdq)) == 3


def test_huge_frames_are_hashed_inside_the_decoders_memory_budget(pool):
    """The largest animation the budget allows: every frame hashed, the decoder under its heap limit."""
    side = 2100  # 8 frames of 4.4 MP (past the express decoder): their RGB arrays alone are 106 MB
    rng = np.random.default_rng(4)
    frames = [Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).resize((side, side)) for _ in range(8)]
    buf = io.BytesIO()
    frames[0].save(buf, "PNG", save_all=True, append_images=frames[1:], compress_level=1)
    prepared = pool.prepare(buf.getvalue(), 224, time.monotonic() + 60)
    assert len(prepared.pdq) == 8 and all(p.matchable for p in prepared.pdq)
    pid = pool._idle[0].decoder.proc.pid  # the general decoder (the one NSFW_DECODERS=1 starts)
    with open(f"/proc/{pid}/status") as fh:
        peak = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) / 1024
    assert peak <= Settings().decode_memory_mb + 40


def test_near_duplicates_stay_within_31_bits_and_different_images_far_apart():
    """The edits PDQ is meant to follow, made, encoded and decoded as bench/pdq_distances.py makes them."""
    import sys

    sys.path.insert(0, str(IMAGES.parents[2] / "bench"))
    import pdq_distances

    follows = ("JPEG q50", "PNG", "resize 75%", "resize 50%", "brightness +10%", "text watermark", "greyscale")
    edits = {name: pdq_distances.EDITS[name] for name in (*follows, "trim 0.5%")}
    by_edit, pairs, _ = pdq_distances.measure(pdq_distances.photos(), edits)
    assert max(max(by_edit[name]) for name in follows) <= 20  # measured: 0 to 20
    assert max(by_edit["trim 0.5%"]) <= 20  # measured: 4 to 20
    assert min(pairs) >= 100  # measured: 106; a match is 31 or less
