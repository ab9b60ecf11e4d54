"""Throughput with a slow Redis: the service's limits and cache in a Redis that answers each call late.

    .venv/bin/python bench/slow_redis.py                         # this checkout, 0.4 s per answer
    .venv/bin/python bench/slow_redis.py --root ../other-checkout --delay 0.4 --seconds 10

Starts a redis-server on a free loopback port (Debian's redis-server), a loopback TCP proxy in
front of it that holds every answer ``--delay`` seconds (:class:`DelayingProxy`), and the service
(``gunicorn app:app`` of ``--root``, one worker) with two rate limits (``NSFW_RATE_LIMIT``, never
reached) counted in that Redis through the proxy; the result cache is off, as in every benchmark
here. It then drives ``POST /predict`` (a 640x480 JPEG upload) with 8 connections and prints
requests per second with Redis answering at once and answering late, and the Redis round trips
per request the proxy saw.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))


class DelayingProxy:
    """A loopback TCP proxy that holds each chunk coming back from ``upstream`` for ``delay`` seconds.

    ``commands`` counts the chunks sent upstream: with one command (or one script) per write, the
    round trips the clients made.
    """

    def __init__(self, upstream: tuple[str, int], delay: float = 0.0):
        self.upstream = upstream
        self.delay = delay
        self.commands = 0
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self._sockets: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, name="slow-redis-accept", daemon=True).start()

    @property
    def port(self) -> int:
        return self._server.getsockname()[1]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, 0), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, 1), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, answers: int) -> None:
        try:
            while chunk := source.recv(65536):
                if answers:
                    time.sleep(self.delay)
                else:
                    with self._lock:
                        self.commands += 1
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self._closed = True
        self._server.close()
        with self._lock:
            for sock in self._sockets:
                sock.close()


def main() -> None:
    import load
    from service import Service

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to serve")
    parser.add_argument("--delay", type=float, default=0.4)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    workdir = Path(tempfile.mkdtemp(prefix="nsfw-slow-redis-"))
    redis_port = _free_port()
    redis = subprocess.Popen(
        [binary, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
    )
    proxy = DelayingProxy(("127.0.0.1", redis_port))
    env = {
        "WEB_CONCURRENCY": "1",
        "NSFW_RATE_LIMIT": "1000000/minute;100000/second",
        "NSFW_RATE_LIMIT_STORAGE": proxy.url,
    }
    service = Service(workdir, env, root=args.root.resolve())
    try:
        time.sleep(0.5)
        service.start()
        service.wait_ready()
        body = ROOT / "tests/data/images/astronaut_640x480.jpg"
        for delay in (0.0, args.delay):
            proxy.delay = delay
            before = proxy.commands
            run = load.run(
                None, f"{service.base}/predict", mode="upload", connections=8, duration=args.seconds,
                body=body, content_type="image/jpeg", timeout="20s",
            )  # fmt: skip
            trips = (proxy.commands - before) / max(1, run.requests)
            print(
                f"Redis answering in {delay * 1000:4.0f} ms: {run.rps:6.1f} req/s, p50 {run.p50_ms:7.1f} ms, "
                f"p99 {run.p99_ms:7.1f} ms, {run.errors} errors, {trips:.2f} Redis round trips per request"
            )
    finally:
        service.stop()
        proxy.close()
        redis.kill()
        redis.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    main()
