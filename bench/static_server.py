"""A loopback image server for URL mode that must never be the bottleneck.

URL-mode numbers only mean something if the image source is much faster than
the service, so every file is read into memory once and each response is one
``sendall`` of prebuilt headers + body over a keep-alive HTTP/1.1 connection
with TCP_NODELAY (a separate small header write can stall on Nagle/delayed
ACK). One thread per connection: the service's fetch pool keeps a few
connections open per worker, so there are only ever a handful.

Run standalone: ``python bench/static_server.py DIR [PORT]``.
"""

from __future__ import annotations

import http.server
import socket
import sys
import threading
from pathlib import Path

CONTENT_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".webp": "image/webp",
}


def _load(directory: Path) -> dict[str, bytes]:
    """Path -> complete HTTP response bytes, for every image in ``directory``."""
    responses = {}
    for path in sorted(directory.iterdir()):
        kind = CONTENT_TYPES.get(path.suffix.lower())
        if kind is None or not path.is_file():
            continue
        body = path.read_bytes()
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
        )
        responses["/" + path.name] = head.encode("ascii") + body
    return responses


NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    responses: dict[str, bytes] = {}

    def setup(self):
        super().setup()
        self.server.connections += 1  # one handler per connection (read by the tests)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self):
        self.wfile.write(self.responses.get(self.path.split("?", 1)[0], NOT_FOUND))

    def log_message(self, *args):  # a log line per request would cost more than serving it
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    connections = 0  # accepted so far

    def handle_error(self, request, client_address):
        """wrk and the service drop keep-alive connections at will: not worth a traceback."""


class StaticServer:
    """Serves ``directory`` on 127.0.0.1 from a background thread; use as a context manager."""

    def __init__(self, directory: Path, port: int = 0):
        handler = type("Handler", (_Handler,), {"responses": _load(Path(directory))})
        self._server = _Server(("127.0.0.1", port), handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="bench-static", daemon=True)

    @property
    def connections(self) -> int:
        """Connections accepted so far."""
        return self._server.connections

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def __enter__(self) -> StaticServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()


if __name__ == "__main__":
    with StaticServer(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 0) as srv:
        print(f"serving {sys.argv[1]} on http://127.0.0.1:{srv.port}/", flush=True)
        threading.Event().wait()
