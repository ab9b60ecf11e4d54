"""The one place this service makes outbound HTTP requests.

The URL comes from an untrusted caller, so every hop of a fetch is: parse
strictly (:mod:`nsfw.fetch.urls`), resolve the name once, refuse it if ANY of
its addresses is not public (:mod:`nsfw.fetch.addresses`), then connect to the
address that was checked (:mod:`nsfw.fetch.transport`). Redirects are followed here, not by
requests, so each hop gets the same checks. One deadline covers DNS, connect,
headers, body and all redirects, and the body is capped in size (:mod:`nsfw.fetch.body`), so a
hostile server can cost neither unbounded time nor unbounded memory or disk.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING
from urllib.parse import urljoin

import requests

from nsfw.errors import (
    BlockedAddress,
    FetchFailed,
    FetchTimeout,
    InvalidURL,
    UpstreamStatus,
)
from nsfw.fetch import urls
from nsfw.fetch.addresses import IPAddress, IPNetwork, is_allowed, parse_ip
from nsfw.fetch.body import CapFor, read_body
from nsfw.fetch.transport import TRANSPORT_ERRORS, PinnedRequest, PinningAdapter, deadline_scope, transport_error

if TYPE_CHECKING:
    from nsfw.settings import Settings

Resolver = Callable[[str, int], list[str]]

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_PENDING_LOOKUPS = 32  # DNS threads that outlived their caller's deadline still count


def system_resolver(host: str, port: int) -> list[str]:
    """All addresses the OS resolver gives for ``host`` (no timeout of its own)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class Fetcher:
    """Downloads images from user-supplied URLs; safe to share between threads.

    ``resolver(host, port) -> [ip, ...]`` replaces the OS resolver (a seam for
    tests); ``ca_bundle`` replaces the default CA certificates.
    """

    def __init__(self, settings: Settings, resolver: Resolver | None = None, *, ca_bundle: str | None = None):
        self._settings = settings
        self._resolver = resolver or system_resolver
        self._verify: str | bool = ca_bundle or True
        self._dns_slots = threading.BoundedSemaphore(MAX_PENDING_LOOKUPS)
        self._headers = {
            "User-Agent": settings.user_agent,
            "Accept": "image/*, */*;q=0.5",
            "Accept-Encoding": "identity",
        }
        # Used directly, without a Session: no cookie jar shared between callers,
        # no proxies or .netrc from the environment, no automatic redirects.
        self._adapter = PinningAdapter(pool_connections=32, pool_maxsize=max(1, settings.threads), max_retries=0)

    @contextlib.contextmanager
    def fetch(self, url: str, deadline: float | None = None, cap_for: CapFor | None = None) -> Iterator[IO[bytes]]:
        """Yield the body of ``url`` in a spooled temp file at offset 0; it is gone on exit.

        The download ends by ``NSFW_FETCH_TIMEOUT`` from now, or by ``deadline`` (on the
        ``time.monotonic`` clock) if that comes first. The body is held to ``NSFW_MAX_BYTES``
        unless ``cap_for(first bytes)`` names another cap for it (a video's, decided by its
        bytes, never by its Content-Type); until those bytes are in, the larger cap holds.

        Raises InvalidURL, BlockedAddress, UpstreamStatus, FetchFailed,
        FetchTimeout or TooLarge.
        """
        settings = self._settings
        own = time.monotonic() + settings.fetch_timeout
        deadline = own if deadline is None else min(own, deadline)
        spool = tempfile.SpooledTemporaryFile(max_size=settings.spool_bytes, dir=settings.tmp_dir)
        try:
            if settings.spool_bytes == 0:
                spool.rollover()  # max_size=0 would mean "never roll over"
            with deadline_scope(deadline):
                self._download(url, deadline, spool, cap_for)
            spool.seek(0)
            yield spool
        finally:
            spool.close()

    def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float | None = None) -> int:
        """POST ``body`` to ``url`` under the webhook's address policy; the status code.

        For the review queue's webhook: the operator configures the URL, but a name that resolves
        to a private address is refused all the same, unless NSFW_WEBHOOK_ALLOW_NETS exempts its
        network (and NSFW_WEBHOOK_ALLOW_PORTS its port). Those exemptions are the webhook's own:
        downloads never use them, so allowing a receiver at 10.0.0.5:9009 does not let clients
        make this service GET anything there. Redirects are not followed.
        Raises InvalidURL, BlockedAddress, FetchFailed or FetchTimeout.
        """
        deadline = time.monotonic() + (timeout or self._settings.fetch_timeout)
        with deadline_scope(deadline):
            target = urls.parse(url, self._settings.webhook_allow_ports)
            ip = self._pin(target, deadline, self._settings.webhook_allow_nets)
            try:
                request = PinnedRequest(target, ip, {**self._headers, **headers}, method="POST", body=body)
            except requests.RequestException:
                raise InvalidURL() from None
            left = max(0.001, deadline - time.monotonic())
            try:
                response = self._adapter.send(request, stream=True, timeout=(left, left), verify=self._verify)
            except TRANSPORT_ERRORS as exc:
                raise transport_error(exc, deadline) from None
            try:
                return int(response.status_code)
            finally:
                response.close()

    def close(self) -> None:
        """Close pooled keep-alive connections."""
        self._adapter.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _download(self, url: str, deadline: float, spool: IO[bytes], cap_for: CapFor | None = None) -> None:
        allowed_ports = self._settings.fetch_allow_ports
        target = urls.parse(url, allowed_ports)
        hops = 0
        while True:
            ip = self._pin(target, deadline)
            response = self._send(target, ip, deadline)
            try:
                location = _redirect_location(response)
                if location is None:
                    status = response.status_code
                    if not 200 <= status < 300:
                        raise UpstreamStatus(f"the image server answered with status {status}")
                    read_body(response, deadline, spool, self._settings.max_bytes, cap_for)
                    return
            finally:
                response.close()
            if hops >= self._settings.max_redirects:
                raise FetchFailed("too many redirects")
            hops += 1
            try:
                target = urls.parse(urljoin(target.url, location), allowed_ports)
            except InvalidURL:
                # The caller's URL was fine; the image server sent us somewhere we won't go.
                raise FetchFailed("the image server redirected to an unsupported URL") from None

    def _pin(self, target: urls.Target, deadline: float, allow_nets: tuple[IPNetwork, ...] | None = None) -> IPAddress:
        """The one checked address to connect to for ``target``; ``allow_nets`` None: NSFW_FETCH_ALLOW_NETS."""
        if target.ip is not None:
            candidates: list[str | IPAddress] = [target.ip]
        else:
            candidates = list(self._resolve(target.host, target.port, deadline))
        if not candidates:
            raise FetchFailed("the host name has no addresses")
        if allow_nets is None:
            allow_nets = self._settings.fetch_allow_nets
        for candidate in candidates:
            if parse_ip(candidate) is None or not is_allowed(candidate, allow_nets):
                raise BlockedAddress()
        pinned = parse_ip(candidates[0])
        assert pinned is not None  # checked above
        return pinned

    def _resolve(self, host: str, port: int, deadline: float) -> list[str]:
        """Run the resolver in a worker thread: getaddrinfo cannot be given a timeout."""
        left = deadline - time.monotonic()
        if left <= 0 or not self._dns_slots.acquire(timeout=left):
            raise FetchTimeout("looking up the host name took too long")
        future: concurrent.futures.Future[list[str]] = concurrent.futures.Future()

        def lookup() -> None:
            try:
                future.set_result(list(self._resolver(host, port)))
            except BaseException as exc:  # handed to the waiting caller
                future.set_exception(exc)
            finally:
                self._dns_slots.release()

        try:
            threading.Thread(target=lookup, name="nsfw-dns", daemon=True).start()
        except BaseException:
            self._dns_slots.release()
            raise
        try:
            return future.result(timeout=max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            raise FetchTimeout("looking up the host name took too long") from None
        except Exception:
            raise FetchFailed("the host name could not be resolved") from None

    def _send(self, target: urls.Target, ip: IPAddress, deadline: float) -> requests.Response:
        try:
            request = PinnedRequest(target, ip, self._headers)
        except requests.RequestException:
            raise InvalidURL() from None
        left = max(0.001, deadline - time.monotonic())
        try:
            return self._adapter.send(request, stream=True, timeout=(left, left), verify=self._verify)
        except TRANSPORT_ERRORS as exc:
            raise transport_error(exc, deadline) from None


def _redirect_location(response: requests.Response) -> str | None:
    if response.status_code not in REDIRECT_STATUSES:
        return None
    location = response.headers.get("Location")
    if not location:
        return None
    try:  # http.client decodes header bytes as latin-1; servers send UTF-8
        return location.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return location
