"""What the decoder's confinement (nsfw/imaging/confinement.py) costs: per image, and once per decoder.

    .venv/bin/python bench/confinement.py                # every test image, 30 rounds
    .venv/bin/python bench/confinement.py --rounds 100

Per image: two fresh child processes decode and preprocess every image in tests/data/images (exactly
what a decoder does with one, in process), one as it is, one after ``confine_decoder()`` (the
seccomp filter, and the drop to nobody when run as root). Printed: the median CPU milliseconds per
image in each, and the difference, and what one system call costs with and without the filter (the
filter's whole cost is paid per system call, so this is the figure that holds on a busy machine).
Once per decoder: the time ``confine_decoder()`` itself takes (the filter is built and loaded), and
the VmRSS of the real decoder processes of a DecoderPool.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHILD = r"""
import json, os, statistics, sys, time
from pathlib import Path
import pyseccomp  # imported first, as the decoder does before giving up root
from nsfw.imaging import confinement
from nsfw.imaging.decode import decode
from nsfw.imaging.preprocess import to_model_input
from nsfw.settings import Settings

confine, rounds = sys.argv[1] == "1", int(sys.argv[2])
images = [p.read_bytes() for p in sorted(Path(sys.argv[3]).iterdir()) if p.suffix in (".jpg", ".png")]
settings = Settings()
for data in images:  # warm: every plugin loaded before a drop of root
    to_model_input(decode(data, settings).frames[0], 224)
setup_ms = 0.0
if confine:
    started = time.perf_counter()
    held = confinement.confine_decoder()
    setup_ms = (time.perf_counter() - started) * 1000
    assert "seccomp" in held, held
per_image = []
for _ in range(rounds):
    for data in images:
        started = time.thread_time()  # CPU time: what the filter adds, not what a neighbour takes
        to_model_input(decode(data, settings).frames[0], 224)
        per_image.append((time.thread_time() - started) * 1000)
started = time.thread_time()
for _ in range(200_000):  # a system call the filter lets through, after every rule is looked at
    os.getppid()
syscall_ns = (time.thread_time() - started) / 200_000 * 1e9
print(json.dumps({"median_ms": statistics.median(per_image), "mean_ms": statistics.fmean(per_image),
                  "images": len(per_image), "setup_ms": setup_ms, "syscall_ns": syscall_ns}))
"""


def run_child(confine: bool, rounds: int) -> dict:
    env = {"PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    args = [sys.executable, "-c", CHILD, str(int(confine)), str(rounds), str(ROOT / "tests/data/images")]
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=True, cwd="/")
    return json.loads(done.stdout)


def decoder_rss() -> list[int]:
    """VmRSS (kB) of a fresh DecoderPool's processes after one image each kind would take."""
    from nsfw.imaging.sandbox import DecoderPool
    from nsfw.settings import Settings

    pool = DecoderPool(Settings(decoders=1))
    try:
        pool.start()
        pool.prepare((ROOT / "tests/data/images/chelsea.png").read_bytes(), 224, time.monotonic() + 30)
        time.sleep(1.0)
        rss = []
        for pid in pool.pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss.append(int(line.split()[1]))
        return rss
    finally:
        pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    plain, confined = [], []
    for _ in range(3):  # alternated, so a noisy neighbour hurts both alike
        plain.append(run_child(False, args.rounds))
        confined.append(run_child(True, args.rounds))
    best_plain = min(r["median_ms"] for r in plain)
    best_confined = min(r["median_ms"] for r in confined)
    print(f"images per run:                 {plain[0]['images']}")
    print(f"decode+preprocess, as is:       {best_plain:.3f} ms CPU per image (median, best of 3 runs)")
    print(f"decode+preprocess, confined:    {best_confined:.3f} ms CPU per image")
    print(f"difference:                     {best_confined - best_plain:+.3f} ms per image")
    plain_ns, confined_ns = (min(r["syscall_ns"] for r in runs) for runs in (plain, confined))
    print(f"one system call (getppid):      {plain_ns:.0f} ns as is, {confined_ns:.0f} ns through the filter")
    print(f"confine_decoder() once:         {min(r['setup_ms'] for r in confined):.2f} ms per decoder start")
    print(f"decoder VmRSS (general, express): {decoder_rss()} kB")


if __name__ == "__main__":
    main()
