"""Video: what a 30 s 720p H.264 clip costs, and the worst a hostile video can make a decoder spend.

    .venv/bin/python bench/video.py             # the clip (5 requests per mode) and every hostile case
    .venv/bin/python bench/video.py --quick     # 2 requests per mode, fewer hostile cases

Needs the `video` extra (PyAV). Runs in process: a Detector with its real decoder processes and
the real model (no HTTP), with the result cache off, so every request decodes and classifies.

1. The clip: 30 s of 1280x720 at 25 fps, H.264 (libx264 veryfast, CRF 23, a keyframe every 2 s),
   the astronaut test photo panned across the frame. Made with PyAV on the first run and kept in
   the system temp dir (``nsfw-bench-video/``). Per mode, milliseconds per request (wall) and
   frames decoded per second of decode time (the decoder's own figure, inference excluded):
   ``NSFW_VIDEO_FRAMES=16`` sampling, and the same with ``NSFW_VIDEO_STOP_AT_ADULT=1`` (with a
   threshold every frame of this clip reaches, so it stops at the first frame: the best case of
   the early exit). For scale, the decode rate of every frame of the clip, one thread, in process.
2. Hostile videos (tests/hostile_videos.py, plus a 4K clip that must be decoded to the end): each
   sent to a fresh decoder process, which is polled every 20 ms for its RSS; prints the answer,
   wall time, the decoder's CPU time and its peak RSS, and the worst of each.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import procstats
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import av  # noqa: E402
import hostile_videos as hv  # noqa: E402

from nsfw.errors import ServiceError  # noqa: E402
from nsfw.imaging.sandbox import DecoderPool  # noqa: E402
from nsfw.pipeline import Detector  # noqa: E402
from nsfw.settings import Settings  # noqa: E402

PHOTO = ROOT / "tests" / "data" / "images" / "astronaut_640x480.jpg"
CACHE = Path(tempfile.gettempdir()) / "nsfw-bench-video"
WIDTH, HEIGHT, RATE, SECONDS = 1280, 720, 25, 30


def clip_720p() -> Path:
    """The 30 s 720p H.264 clip, made once and cached."""
    path = CACHE / "clip-720p-30s-h264.mp4"
    if path.is_file():
        return path
    CACHE.mkdir(exist_ok=True)
    photo = np.asarray(Image.open(PHOTO).convert("RGB").resize((1920, 1440)))
    partial = path.with_suffix(".partial")
    with av.open(str(partial), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=RATE, options={"preset": "veryfast", "crf": "23"})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.codec_context.gop_size = 2 * RATE
        frames = SECONDS * RATE
        for i in range(frames):
            x = round((1920 - WIDTH) * i / frames)
            y = round((1440 - HEIGHT) * (0.5 + 0.5 * np.sin(i / 40)))
            window = np.ascontiguousarray(photo[y : y + HEIGHT, x : x + WIDTH])
            for packet in stream.encode(av.VideoFrame.from_ndarray(window, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    partial.rename(path)
    return path


def cached(name: str, make) -> bytes:
    """A video made once (a 4K encode takes minutes here) and kept next to the clip."""
    path = CACHE / name
    if not path.is_file():
        CACHE.mkdir(exist_ok=True)
        path.with_suffix(".partial").write_bytes(make())
        path.with_suffix(".partial").rename(path)
    return path.read_bytes()


def decode_everything(data: bytes) -> tuple[int, float]:
    """Frames in the clip and the CPU seconds decoding all of them takes here, one thread."""
    started = time.process_time()
    with av.open(io.BytesIO(data), format="mov") as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        count = sum(1 for _ in container.decode(stream))
    return count, time.process_time() - started


def bench_clip(data: bytes, requests: int) -> list[str]:
    lines = ["| mode | ms per request (median, worst) | frames decoded | frames classified | decoded frames / s |"]
    lines.append("| --- | --- | --- | --- | --- |")
    modes = {
        "16 frames": {},
        "16 frames, stop at adult": {"video_stop_at_adult": True, "adult_threshold": 0.001, "safe_threshold": 0.0},
    }
    for label, changes in modes.items():
        detector = Detector(Settings().replace(cache_size=0, video_frames=16, **changes))
        try:
            detector.load()
            detector.classify_bytes(data)  # warm: the decoder imports PyAV once
            walls, rates, decoded, classified = [], [], 0, 0
            for _ in range(requests):
                started = time.perf_counter()
                result = detector.classify_bytes(data)
                walls.append((time.perf_counter() - started) * 1000)
                decoded, classified = result.video["frames_decoded"], result.frames
                rates.append(decoded / (result.timings_ms["decode"] / 1000))
        finally:
            detector.close()
        walls.sort()
        lines.append(
            f"| {label} | {walls[len(walls) // 2]:.0f}, {walls[-1]:.0f} | {decoded} | {classified} "
            f"| {sorted(rates)[len(rates) // 2]:.0f} |"
        )
    return lines


def hostile_cases(quick: bool) -> dict:
    cases = {
        "truncated": lambda: hv.sample(3.0)[:3000],
        "corrupt": lambda: hv.corrupt(hv.sample(3.0, width=640, height=480)),
        "hours declared": hv.long_declared_mp4,
        "timestamp bomb": hv.timestamp_bomb_mp4,
        "huge declared frames (VP8 16383x16383)": hv.huge_vp8_webm,
        "5,000 streams": hv.many_streams_mp4,
        "MPEG-4 part 2 in MP4": lambda: hv.sample(1.0, codec="mpeg4"),
        "external data reference (MOV)": lambda: hv.external_reference_mov("http://127.0.0.1:9/x.mov"),
    }
    if not quick:
        # decoded to the end: one keyframe, and 16 times spread over 24 s of 4K (made a frame at a time)
        cases["4K H.264, one keyframe, 24 s"] = lambda: cached(
            "4k-24s-one-keyframe.mp4",
            lambda: hv.encode(
                hv.moving_frames(600, 3840, 2160),
                rate=25,
                gop=1000,
                options={"preset": "ultrafast", "x264-params": "scenecut=0"},
            ),
        )
    return cases


def bench_hostile(quick: bool) -> list[str]:
    settings = Settings().replace(decoders=1, video_frames=16)
    lines = [
        "| case | bytes | answer | wall s | decoder CPU s | decoder peak RSS MB |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    worst_cpu, worst_rss = 0.0, 0.0
    for name, make in hostile_cases(quick).items():
        data = make()
        pool = DecoderPool(settings)
        pool.start()
        peak, stop = [0.0], threading.Event()

        def poll(peak=peak, stop=stop):
            while not stop.is_set():
                for pid in procstats.children(os.getpid()):
                    peak[0] = max(peak[0], procstats.rss_mb(pid) or 0.0)
                time.sleep(0.02)

        poller = threading.Thread(target=poll, daemon=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        poller.start()
        started = time.perf_counter()
        try:
            pool.prepare(data, 224, time.monotonic() + 60, lambda tensor, t, pdq: True)
            answer = "200"
        except ServiceError as exc:
            answer = f"{exc.status} {exc.code}"
        wall = time.perf_counter() - started
        stop.set()
        poller.join()
        pool.close()  # waits for the decoder, so its CPU time is counted below
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        worst_cpu, worst_rss = max(worst_cpu, cpu), max(worst_rss, peak[0])
        lines.append(f"| {name} | {len(data):,} | {answer} | {wall:.2f} | {cpu:.2f} | {peak[0]:.0f} |")
    lines.append(f"| **worst** | | | | **{worst_cpu:.2f}** | **{worst_rss:.0f}** |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 requests per mode, no 4K case")
    args = parser.parse_args()
    av.logging.set_level(None)
    started = time.perf_counter()
    path = clip_720p()
    data = path.read_bytes()
    print(f"clip: {path} ({len(data):,} bytes; ready in {time.perf_counter() - started:.1f} s)", file=sys.stderr)
    print(f"## Video on {procstats.cpu_count()} CPUs ({procstats.cpu_model()})\n")
    print(f"30 s 1280x720 H.264 at 25 fps, {len(data) / 1e6:.1f} MB, keyframe every 2 s\n")
    print("\n".join(bench_clip(data, 2 if args.quick else 5)))
    frames, cpu = decode_everything(data)
    print(
        f"\nEvery frame decoded in process, one thread: {frames} frames in {cpu:.2f} s CPU ({frames / cpu:.0f} fps)\n"
    )
    print("### Hostile videos (one fresh decoder each; NSFW_VIDEO_CPU_S 8, NSFW_DECODE_MEMORY_MB 448)\n")
    print("\n".join(bench_hostile(args.quick)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
