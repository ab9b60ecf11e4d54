"""What the fetcher tests share: the connection guard, raw loopback servers and small readers.

An audit hook records every socket connect while ``Guard.active`` and refuses any target
outside loopback, so no test can reach another machine even by mistake. The fixtures that
use these live in conftest.py; test modules import the plain helpers from here.
"""

import ipaddress
import os
import socket
import sys
import threading
import time

import pytest

from nsfw.errors import FetchTimeout

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
PORTS = frozenset({80, 443, *range(1024, 65536)})
GZIP = {"Content-Encoding": "gzip"}


# --- connection guard ------------------------------------------------------
class Guard:
    active = False
    connects: list = []


def _audit(event, args):
    if not Guard.active or event != "socket.connect":
        return
    address = args[1]
    if not isinstance(address, tuple):
        return
    Guard.connects.append(address[0])
    try:
        ip = ipaddress.ip_address(address[0])
    except ValueError:
        raise RuntimeError(f"test guard: connect by name {address[0]!r} refused") from None
    ip = getattr(ip, "ipv4_mapped", None) or ip
    if not (ip in LOOPBACK if ip.version == 4 else ip == ipaddress.ip_address("::1")):
        raise RuntimeError(f"test guard: connect to {ip} refused")


sys.addaudithook(_audit)


# --- servers ---------------------------------------------------------------
class RawServer:
    """A TCP server on a loopback address running ``handler(conn, stop)`` per connection."""

    def __init__(self, handler, host="127.0.0.1", port=0):
        self.handler, self.hits, self.stop = handler, 0, threading.Event()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(16)
        self.sock.settimeout(0.05)
        self.host, self.port = host, self.sock.getsockname()[1]
        self.threads = [threading.Thread(target=self._serve, daemon=True)]
        self.threads[0].start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.hits += 1
            thread = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _handle(self, conn):
        with conn:
            conn.settimeout(5)
            try:
                self.handler(conn, self.stop)
            except OSError:
                pass

    def close(self):
        self.stop.set()
        for thread in self.threads:
            thread.join(5)
        self.sock.close()


def read_request(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def respond(payload, hang_up=False):
    def handler(conn, stop):
        read_request(conn)
        conn.sendall(payload)
        while not hang_up and not stop.is_set() and conn.recv(4096):  # wait for the client to go
            pass

    return handler


def fetch_bytes(fetcher, url):
    with fetcher.fetch(url) as body:
        assert body.tell() == 0
        return body.read()


def resolve_to(*ips, calls=None):
    def resolver(host, port):
        if calls is not None:
            calls.append(host)
        return list(ips)

    return resolver


def open_sockets():
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return count


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def endless(head, chunk):
    def handler(conn, stop):
        read_request(conn)
        conn.sendall(head)
        while not stop.is_set():
            conn.sendall(chunk)

    return handler


def drip(head, body, interval):
    def handler(conn, stop):
        read_request(conn)
        conn.sendall(head)
        for byte in body:
            if stop.wait(interval):
                return
            conn.sendall(bytes([byte]))

    return handler


def assert_times_out(fetcher, url, deadline):
    started = time.monotonic()
    with pytest.raises(FetchTimeout):
        fetch_bytes(fetcher, url)
    elapsed = time.monotonic() - started
    assert deadline - 0.1 <= elapsed < deadline + 0.5
