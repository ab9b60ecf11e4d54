"""Parse a user-supplied URL into the one canonical form the fetcher acts on.

Parsers disagree on odd URLs (``http://a@b``, backslashes, ``127.1``...), and
an attacker picks the spelling where the checking parser and the connecting
one differ. So the URL is parsed once, here, strictly; anything ambiguous is
refused, numeric hosts are read the way the OS resolver reads them
(``inet_aton``: 2130706433, 0x7f000001, 0177.0.0.1 and 127.1 are all
127.0.0.1), and the fetcher only ever uses the :class:`Target` built here.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Collection
from urllib.parse import urlsplit

import idna

from nsfw.errors import BlockedAddress, InvalidURL

MAX_URL_LENGTH = 8192
DEFAULT_PORTS = {"http": 80, "https": 443}
_LABEL = re.compile(r"[a-z0-9_-]{1,63}\Z")
_PORT = re.compile(r":[0-9]{1,5}\Z")
# inet_aton's number forms: hex (0x, digits optional), octal (leading 0), decimal.
_IPV4_NUMBER = re.compile(r"(0x[0-9a-f]*|0[0-7]*|[1-9][0-9]*)\Z")
_NUMERIC_LAST = re.compile(r"(0x[0-9a-f]*|[0-9]+)\Z")


@dataclasses.dataclass(frozen=True)
class Target:
    """A validated URL: ``host`` is an ASCII name or an IP literal (no brackets)."""

    scheme: str
    host: str
    port: int
    path: str  # path and query, always starting with "/"
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None  # set for IP-literal hosts

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.path}"


def parse(url: str, allowed_ports: Collection[int]) -> Target:
    """Validate ``url``; raise InvalidURL, or BlockedAddress for a port not allowed."""
    if not isinstance(url, str):
        raise InvalidURL()
    url = url.strip(" \t\r\n")
    if not url or len(url) > MAX_URL_LENGTH:
        raise InvalidURL("the url is empty or too long")
    # urlsplit silently deletes tabs and newlines; refuse them (and other controls) instead.
    if any(c <= " " or c == "\x7f" for c in url):
        raise InvalidURL("the url contains spaces or control characters")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise InvalidURL() from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise InvalidURL("only http and https urls are supported")
    netloc = parts.netloc
    if not netloc:
        raise InvalidURL("the url has no host")
    if "@" in netloc:
        raise InvalidURL("urls with a user name or password are not accepted")
    raw_host, port = _split_netloc(netloc, DEFAULT_PORTS[scheme])
    host, ip = _parse_host(raw_host)
    if port not in allowed_ports:
        raise BlockedAddress(f"port {port} is not allowed")
    path = parts.path or "/"
    if not path.startswith("/"):
        raise InvalidURL()
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(scheme, host, port, path, ip)


def _split_netloc(netloc: str, default_port: int) -> tuple[str, int]:
    if netloc.startswith("["):
        end = netloc.find("]")
        if end < 0:
            raise InvalidURL("unterminated [ in the host")
        host, rest = netloc[: end + 1], netloc[end + 1 :]
    else:
        colon = netloc.find(":")
        host, rest = (netloc, "") if colon < 0 else (netloc[:colon], netloc[colon:])
    if rest in ("", ":"):
        return host, default_port
    if not _PORT.match(rest):
        raise InvalidURL("the port is not a number")
    port = int(rest[1:])
    if not 0 < port < 65536:
        raise InvalidURL("the port is out of range")
    return host, port


def _parse_host(raw: str) -> tuple[str, ipaddress.IPv4Address | ipaddress.IPv6Address | None]:
    """Return (host text, ip or None) for the bracketed-v6, numeric-v4 or name ``raw``."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None
    if raw.startswith("["):
        try:
            if "%" in raw:  # a zone ("%eth0") names a local interface: never wanted
                raise ValueError
            ip = ipaddress.IPv6Address(raw[1:-1])
        except ValueError:
            raise InvalidURL("the host is not a valid IPv6 address") from None
        return str(ip), ip
    if not raw:
        raise InvalidURL("the url has no host")
    if not raw.isascii():
        try:
            raw = idna.encode(raw, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError, ValueError):
            raise InvalidURL("the host is not a valid internationalized name") from None
    host = raw.lower()
    ip = _parse_ipv4(host)
    if ip is not None:
        return str(ip), ip
    # One trailing dot is dropped: the name is the same, and hosts files and
    # certificates only know the dotless form ("localhost." must be localhost).
    name = host[:-1] if host.endswith(".") else host
    if len(name) > 253 or not all(_LABEL.match(label) for label in name.split(".")):
        raise InvalidURL("the host is not a valid host name")
    return name, None


def _parse_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """Read ``host`` the way inet_aton does when its last label is numeric, else None.

    Like browsers, a host whose last label is a number must be an IPv4 address;
    one that is not (``1.2.3.256.``, ``09.1.1.1``, ``foo.123``) is refused rather
    than handed to DNS, where another reading could apply.
    """
    labels = host.split(".")
    if len(labels) > 1 and labels[-1] == "":
        labels.pop()
    if not _NUMERIC_LAST.match(labels[-1]):
        return None
    if len(labels) > 4:
        raise InvalidURL("the host is not a valid IPv4 address")
    numbers = [_parse_ipv4_number(label) for label in labels]
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        raise InvalidURL("the host is not a valid IPv4 address")
    value = numbers[-1]
    for i, n in enumerate(numbers[:-1]):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def _parse_ipv4_number(label: str) -> int:
    if not _IPV4_NUMBER.match(label):
        raise InvalidURL("the host is not a valid IPv4 address")
    if label.startswith("0x"):
        return int(label[2:] or "0", 16)
    if label.startswith("0"):
        return int(label, 8)
    return int(label, 10)
