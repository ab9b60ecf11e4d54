"""Video: sniffing, exact frames, sampling, and every hostile case answered with its 4xx.

Real decoder processes and the real model (through the Detector); every video is built by
the test with PyAV (tests/hostile_videos.py), hostile ones by editing its bytes.
"""

from __future__ import annotations

import io
import os

import numpy as np
import pytest

pytest.importorskip("av", reason="the `video` extra (PyAV) is not installed")

import hostile_videos as hv  # noqa: E402
from PIL import Image  # noqa: E402

from nsfw.errors import (  # noqa: E402
    CorruptVideo,
    ServiceError,
    UnsupportedCodec,
    UnsupportedMedia,
    VideoTooComplex,
    VideoTooLarge,
    VideoTooLong,
    VideoUnsupported,
)
from nsfw.imaging import video, video_headers  # noqa: E402
from nsfw.imaging.video import VideoLimits, decode_video  # noqa: E402
from nsfw.imaging.video_headers import format_name, sniff  # noqa: E402
from nsfw.pipeline import Detector  # noqa: E402
from nsfw.settings import Settings  # noqa: E402


@pytest.fixture
def make_detector():
    made = []

    def make(**changes):
        detector = Detector(Settings().replace(cache_size=0, **changes))
        made.append(detector)
        return detector

    yield make
    for detector in made:
        detector.close()


def png(frame: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, "PNG")
    return buf.getvalue()


# --- sniffing ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("codec", "container", "demuxer", "name"),
    [
        ("libx264", "mp4", "mov", "MP4"),
        ("libx264", "mov", "mov", "MOV"),
        ("libvpx-vp9", "webm", "matroska", "WEBM"),
        ("libx264", "matroska", "matroska", "MATROSKA"),
    ],
)
def test_containers_are_named_by_their_bytes(codec, container, demuxer, name):
    head = hv.sample(0.5, codec=codec, container=container)[: video_headers.HEAD_BYTES]
    assert sniff(head) == demuxer
    assert format_name(head) == name


@pytest.mark.parametrize(
    "head",
    [
        b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic",  # a HEIF still: the formats' business
        b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf",
        b"#EXTM3U\n#EXT-X-VERSION:3\n",
        b"<?xml version='1.0'?><MPD xmlns='urn:mpeg:dash:schema:mpd:2011'>",
        b"\x1a\x45\xdf\xa3\x84\x42\x82\x81\x78",  # EBML, DocType "x"
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
        b"",
    ],
)
def test_other_bytes_are_not_video(head):
    assert sniff(head) is None


# --- exactness and sampling --------------------------------------------------------------
def test_frames_come_out_exactly_as_they_went_in():
    frames = hv.frames_of(20, 96, 64)
    got = []
    facts = decode_video(hv.lossless_h264(frames), VideoLimits(frames=4), lambda rgb, t: got.append((t, rgb)) or True)
    assert [t for t, _ in got] == [0.0, 0.5, 1.0, 1.5]
    for t, rgb in got:
        assert np.array_equal(rgb, frames[round(t * 10)])
    assert (facts.codec, facts.width, facts.height, facts.duration_s) == ("h264", 96, 64, 2.0)


def test_a_frames_scores_equal_the_same_frame_classified_as_a_png(make_detector):
    detector = make_detector(video_frames=4)
    frames = hv.frames_of(20, 160, 120, seed=3)
    result = detector.classify_bytes(hv.lossless_h264(frames))
    assert result.frames == 4 and len(result.timeline) == 4
    for point in result.timeline:
        still = detector.classify_bytes(png(frames[round(point["t"] * 10)]))
        for name, score in point["scores"].items():
            assert score == pytest.approx(still.scores[name], abs=1e-6)
    # /predict's scores are those of the frame with the highest nsfw score
    worst = max(result.timeline, key=lambda p: p["scores"]["porn"] + p["scores"]["hentai"] + p["scores"]["sexy"])
    assert result.scores == worst["scores"]
    assert result.video == {"duration_s": 2.0, "codec": "h264", "frames_decoded": result.video["frames_decoded"],
                            "frames_classified": 4}  # fmt: skip


@pytest.mark.parametrize("turns", [1, 2, 3])
def test_a_display_matrix_turns_the_frames_as_players_show_them(turns):
    frames = hv.frames_of(10, 96, 64)
    got = []
    data = hv.rotated(hv.lossless_h264(frames), turns)
    facts = decode_video(data, VideoLimits(frames=2), lambda rgb, t: got.append((t, rgb)) or True)
    for t, rgb in got:
        assert np.array_equal(rgb, np.rot90(frames[round(t * 10)], -turns))  # clockwise
    assert (facts.width, facts.height) == ((64, 96) if turns % 2 else (96, 64))


@pytest.mark.parametrize(
    ("codec", "container", "answer"),
    [
        ("libx264", "mp4", "h264"),
        ("libx265", "mp4", "hevc"),
        ("libvpx", "webm", "vp8"),
        ("libvpx-vp9", "webm", "vp9"),
        ("libsvtav1", "mp4", "av1"),
        ("libsvtav1", "matroska", "av1"),
        ("libx264", "mov", "h264"),
    ],
)
def test_every_listed_codec_is_classified(make_detector, codec, container, answer):
    detector = make_detector(video_frames=3)
    result = detector.classify_bytes(hv.sample(1.0, width=64, height=48, codec=codec, container=container))
    assert result.video["codec"] == answer
    assert result.frames == 3 and (result.width, result.height) == (64, 48)
    assert sum(result.scores.values()) == pytest.approx(1.0, abs=1e-4)


def test_far_times_are_reached_by_seeking_near_ones_by_decoding_on():
    def decoded(gop):
        data = hv.encode(hv.frames_of(600, 64, 48), rate=10, gop=gop, options={"x264-params": "scenecut=0"})  # 60 s
        got = []
        facts = decode_video(data, VideoLimits(frames=16), lambda rgb, t: got.append(t) or True)
        return facts.frames_decoded, got

    short_gop, times = decoded(10)  # a keyframe every second: 16 seeks
    assert short_gop < 100 and len(times) == 16
    assert times == sorted(times) and times[0] == 0.0 and times[-1] >= 50
    one_gop, times = decoded(1000)  # one keyframe: decoding on is all there is
    assert 500 < one_gop <= 600 and len(times) == 16


@pytest.mark.parametrize(("codec", "container"), [("libx264", "mp4"), ("libsvtav1", "mp4"), ("libvpx-vp9", "webm")])
def test_decoding_starts_no_thread(codec, container):
    """One core per decoder process, as for images: FFmpeg's decoder and swscale thread pools stay off."""
    data = hv.sample(1.0, width=640, height=480, codec=codec, container=container)
    before = len(os.listdir("/proc/self/task"))
    seen = []
    decode_video(data, VideoLimits(frames=4), lambda rgb, t: seen.append(len(os.listdir("/proc/self/task"))) or True)
    assert seen and max(seen) == before


def test_without_a_declared_duration_the_frames_kept_are_spread_over_all_of_it():
    data = hv.encode(hv.frames_of(100, 64, 48), container="matroska", options={"live": "1"})
    got = []
    facts = decode_video(data, VideoLimits(frames=8), lambda rgb, t: got.append(t) or True)
    assert facts.duration_s is None or got  # whichever the muxer wrote, frames are spread
    assert len(got) >= 4 and got[0] == 0.0 and got[-1] >= 5.0


def test_stop_at_adult_stops_at_the_first_frame_that_reaches_the_threshold(make_detector):
    data = hv.sample(3.0)
    everything = make_detector(video_frames=8).classify_bytes(data)
    assert everything.frames == 8
    # every frame of this clip has a nsfw score above 0.001: the first one stops it
    stopping = make_detector(video_frames=8, video_stop_at_adult=True, adult_threshold=0.001, safe_threshold=0.0)
    result = stopping.classify_bytes(data)
    assert result.frames == 1 and result.video["frames_classified"] == 1
    assert result.video["frames_decoded"] < everything.video["frames_decoded"]
    assert result.timeline[0]["scores"] == everything.timeline[0]["scores"]


# --- hostile input: each its 4xx, and the decoder pool serves the next video ------------
PLAYLIST = b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nhttp://127.0.0.1:9/a.ts\n#EXT-X-ENDLIST\n"
HOSTILE = {
    "truncated": (lambda: hv.sample(3.0)[:3000], CorruptVideo),
    "truncated_after_the_header": (lambda: hv.sample(3.0, options={"movflags": "faststart"})[:6000], CorruptVideo),
    "corrupt": (lambda: hv.corrupt(hv.sample(3.0)), CorruptVideo),
    "corrupt_webm": (lambda: hv.corrupt(hv.sample(3.0, codec="libvpx-vp9", container="webm")), CorruptVideo),
    "hours_declared": (hv.long_declared_mp4, VideoTooLong),
    "timestamp_bomb": (hv.timestamp_bomb_mp4, VideoTooLong),
    "huge_declared_frames": (hv.huge_vp8_webm, CorruptVideo),
    "thousands_of_streams": (hv.many_streams_mp4, VideoTooComplex),
    "mpeg4_part2_in_mp4": (lambda: hv.sample(1.0, codec="mpeg4"), UnsupportedCodec),
    "mjpeg_in_mp4": (lambda: hv.sample(1.0, codec="mjpeg", pix_fmt="yuvj420p"), UnsupportedCodec),
    "external_data_reference": (lambda: hv.external_reference_mov("http://127.0.0.1:9/x.mov"), CorruptVideo),
    "hls_playlist": (lambda: PLAYLIST, UnsupportedMedia),
}  # fmt: skip


@pytest.fixture(scope="module")
def shared_detector():
    detector = Detector(Settings().replace(cache_size=0, video_frames=4, decoders=1))
    yield detector
    detector.close()


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_each_hostile_video_gets_its_4xx_and_the_decoder_serves_the_next(shared_detector, case):
    make, error = HOSTILE[case]
    with pytest.raises(ServiceError) as caught:
        shared_detector.classify_bytes(make())
    assert type(caught.value) is error, caught.value
    assert 400 <= caught.value.status < 500
    assert shared_detector.classify_bytes(hv.sample(0.5)).frames >= 1  # the next video is served


def test_the_bounds_each_refuse_with_their_own_error(make_detector):
    data = hv.sample(3.0, width=96, height=64)
    cases = [
        ({"video_max_pixels": 96 * 64 - 1}, VideoTooLarge),
        ({"video_max_duration_s": 2.0}, VideoTooLong),
        ({"video_max_decoded_frames": 5}, VideoTooComplex),
    ]
    for changes, error in cases:
        with pytest.raises(error):
            make_detector(video_frames=16, **changes).classify_bytes(data)


def test_the_video_cpu_budget_ends_a_costly_decode(make_detector):
    detector = make_detector(video_frames=16, video_cpu_s=0.05, decoders=1)
    data = hv.sample(10.0, rate=30, width=640, height=480, gop=1000)
    with pytest.raises(VideoTooComplex):
        detector.classify_bytes(data)
    # the decoder that was killed is replaced, and the budget is per request
    assert make_detector(video_frames=2).classify_bytes(hv.sample(0.5)).frames == 2


def test_without_pyav_a_video_is_415_naming_the_extra(make_detector, monkeypatch):
    monkeypatch.setattr(video, "available", lambda: False)
    with pytest.raises(VideoUnsupported) as caught:
        make_detector().classify_bytes(hv.sample(0.5))
    assert caught.value.status == 415 and "video" in caught.value.message
