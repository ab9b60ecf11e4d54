"""What API keys and rate limits cost per request, in process (no network, no model work).

    .venv/bin/python bench/protect.py            # about a minute
    .venv/bin/python bench/protect.py --rounds 3 --requests 1000

Each configuration gets its own app; the same cheap protected request (GET /v1/models) goes
through Flask's test client, in interleaved rounds, and the median CPU microseconds per request
(process time: steadier than wall time on a shared machine) are printed, with the difference to
the default (no keys, no limits: no hook at all). A Redis
configuration is measured when redis-server is installed (one is started on a free port).
The figures are the hooks' cost, to set against the ~15 ms of CPU one image costs.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from nsfw import create_app  # noqa: E402
from nsfw.protect import keys  # noqa: E402
from nsfw.settings import Settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()

    key = keys.new_key()
    folder = Path(tempfile.mkdtemp(prefix="nsfw-bench-"))
    (folder / "keys.txt").write_text(keys.line_for("bench", key) + "\n")
    big = f"{10**9}/hour"
    configs = {
        "default (off)": ({}, {}),
        "keys": ({"api_keys_file": str(folder / "keys.txt")}, {"X-API-Key": key}),
        "limits, memory": ({"rate_limit": big}, {}),
        "keys + limits, memory": ({"api_keys_file": str(folder / "keys.txt"), "rate_limit": big}, {"X-API-Key": key}),
    }
    redis = None
    if shutil.which("redis-server"):
        from gunicorn_helpers import free_port

        port = free_port()
        redis = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            cwd=folder,
        )
        time.sleep(0.5)
        configs["limits, redis"] = ({"rate_limit": big, "rate_limit_storage": f"redis://127.0.0.1:{port}/0"}, {})
    try:
        clients = {}
        for name, (changes, headers) in configs.items():
            app = create_app(Settings().replace(**changes))
            clients[name] = (app.test_client(), headers)
            assert clients[name][0].get("/v1/models", headers=headers).status_code == 200
        timings = {name: [] for name in configs}
        for _ in range(args.rounds):
            for name, (client, headers) in clients.items():
                started = time.process_time()
                for _ in range(args.requests):
                    client.get("/v1/models", headers=headers)
                timings[name].append((time.process_time() - started) / args.requests * 1e6)
        base = statistics.median(timings["default (off)"])
        print(f"{'configuration':<24} {'CPU us/req':>10} {'added us':>9}")
        for name, values in timings.items():
            median = statistics.median(values)
            print(f"{name:<24} {median:>10.1f} {median - base:>9.1f}")
    finally:
        if redis is not None:
            redis.kill()
            redis.wait()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
