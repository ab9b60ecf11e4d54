"""requests/urllib3 plumbing: connect only to a pre-checked IP, and never past a deadline.

Two things stock requests cannot do, and why they matter here:

* Pinning. Checking a name's addresses and then letting the library resolve
  it again to connect is defeated by DNS rebinding. A :class:`PinnedRequest`
  carries the checked IP; :class:`PinningAdapter` makes that IP the pool's
  host (so a pool, and its keep-alive connections, belong to one address) and
  passes the original name as ``server_hostname`` for SNI and certificate
  checks, while the request carries an explicit ``Host`` header. The
  connection classes refuse to connect to anything but an IP literal, so a
  name can never be resolved behind the policy's back.
* A total deadline. Socket timeouts bound each recv, not the sum, so a server
  dripping one byte at a time never trips them. Every read of a response
  (status line, headers, body) re-arms the socket timeout to the time left
  before the deadline of the fetch running on this thread; connect and the
  TLS handshake get the time left too.

:func:`transport_error` says, in the service's typed errors, what a failed send or read meant.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from requests.models import PreparedRequest
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from nsfw.errors import FetchFailed, FetchTimeout, ServiceError

if TYPE_CHECKING:
    from nsfw.fetch.urls import Target

_local = threading.local()


@contextlib.contextmanager
def deadline_scope(deadline: float) -> Iterator[None]:
    """Bound every socket operation of this thread's fetch by ``deadline`` (monotonic)."""
    previous = getattr(_local, "deadline", None)
    _local.deadline = deadline
    try:
        yield
    finally:
        _local.deadline = previous


def _time_left(fallback: float | None = None) -> float | None:
    """Seconds to the current deadline (raising TimeoutError once past it), else ``fallback``."""
    deadline: float | None = getattr(_local, "deadline", None)
    if deadline is None:
        return fallback if isinstance(fallback, (int, float)) else None
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the fetch deadline has passed")
    return left if not isinstance(fallback, (int, float)) else min(left, fallback)


class _DeadlineReader(io.RawIOBase):
    """The socket's reader, with the timeout re-armed to the time left before each recv."""

    def __init__(self, raw: Any, sock: socket.socket) -> None:
        super().__init__()
        self._raw, self._sock = raw, sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        left = _time_left()
        if left is not None:
            self._sock.settimeout(left)
        read: int | None = self._raw.readinto(buffer)
        return read

    def fileno(self) -> int:
        return int(self._raw.fileno())

    def close(self) -> None:
        if not self.closed:
            self._raw.close()  # drops the socket's makefile reference, as http.client expects
        super().close()


class _DeadlineResponse(http.client.HTTPResponse):
    def __init__(self, sock: socket.socket, *args: Any, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        self.fp = io.BufferedReader(_DeadlineReader(self.fp.detach(), sock))


def _connect_pinned(conn: HTTPConnection) -> socket.socket:
    """Open the TCP connection to ``conn.host`` (an IP literal, never a name) within the deadline."""
    try:
        ip = ipaddress.ip_address(conn.host)
    except ValueError:
        raise NewConnectionError(conn, "refusing to resolve a host name at connect time") from None
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(_time_left(conn.timeout))
        sock.connect((str(ip), conn.port))
        sock.settimeout(_time_left(conn.timeout))  # what the TLS handshake may still use
    except TimeoutError as exc:
        sock.close()
        raise ConnectTimeoutError(conn, f"connecting to {ip} timed out") from exc
    except OSError as exc:
        sock.close()
        raise NewConnectionError(conn, f"could not connect to {ip}: {exc.strerror or exc}") from exc
    except BaseException:
        sock.close()
        raise
    return sock


class _PinnedHTTPConnection(HTTPConnection):
    response_class = _DeadlineResponse

    def _new_conn(self) -> socket.socket:
        return _connect_pinned(self)


class _PinnedHTTPSConnection(HTTPSConnection):
    response_class = _DeadlineResponse

    def _new_conn(self) -> socket.socket:
        return _connect_pinned(self)


class _PinnedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PinnedHTTPConnection


class _PinnedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PinnedHTTPSConnection


class PinnedRequest(PreparedRequest):
    """A GET (or, for the review webhook, a POST) of ``target`` (a :class:`nsfw.fetch.urls.Target`)
    that may only be sent to ``ip``."""

    def __init__(
        self,
        target: Target,
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
        headers: dict[str, str],
        method: str = "GET",
        body: bytes | None = None,
    ) -> None:
        super().__init__()
        self.target, self.ip = target, ip
        self.prepare(method=method, url=target.url, headers={**headers, "Host": target.netloc}, data=body)


class PinningAdapter(HTTPAdapter):
    """Sends only :class:`PinnedRequest`, over pools keyed by (scheme, pinned IP, port, name)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _PinnedHTTPPool,
            "https": _PinnedHTTPSPool,
        }

    def build_connection_pool_key_attributes(
        self, request: PreparedRequest, verify: bool | str, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        if not isinstance(request, PinnedRequest):
            raise ValueError("only requests pinned to a checked address may be sent")
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        target = request.target
        host_params.update(scheme=target.scheme, host=str(request.ip), port=target.port)
        pool_kwargs["server_hostname"] = target.host  # SNI and certificate name; ignored for http
        return host_params, pool_kwargs

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        raise ValueError("proxies are not used: a proxy would resolve names itself")


TRANSPORT_ERRORS = (
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
)


def transport_error(exc: BaseException, deadline: float) -> ServiceError:
    """The typed error for a requests/urllib3/socket failure, in plain words."""
    timed_out = (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)
    if time.monotonic() >= deadline or isinstance(exc, timed_out):
        return FetchTimeout()
    if isinstance(exc, urllib3.exceptions.DecodeError):
        return FetchFailed("the image server sent a body that could not be decompressed")
    if isinstance(exc, requests.exceptions.SSLError):
        return FetchFailed("the TLS connection to the image server failed")
    if _caused_by(exc, urllib3.exceptions.NewConnectionError):
        return FetchFailed("could not connect to the image server")
    return FetchFailed("the connection to the image server failed")


def _caused_by(exc: BaseException | None, kind: type) -> bool:
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, kind) or isinstance(getattr(exc, "reason", None), kind):
            return True
        exc = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else exc.__cause__
        seen += 1
    return False
