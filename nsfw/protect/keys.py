"""API keys: ``name:sha256-hex`` lines in NSFW_API_KEYS_FILE, checked in constant time.

The file holds only digests, so reading it (a backup, a config map) gives no key away. A
presented key is hashed and compared with ``hmac.compare_digest`` against every entry, without
stopping at a match, so the time taken says nothing about which entry, or how much of one,
matched. Clients send ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from pathlib import Path

from nsfw.errors import Unauthorized
from nsfw.settings import ConfigError

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
LINE = re.compile(rf"({NAME.pattern}):([0-9a-f]{{64}})")


def new_key() -> str:
    """A fresh random key: 32 bytes from the OS's CSPRNG, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def line_for(name: str, key: str) -> str:
    """The line to add to NSFW_API_KEYS_FILE for this key."""
    if not NAME.fullmatch(name):
        raise ValueError(f"{name!r}: a key name is 1-64 letters, digits, '.', '_', '@' or '-', starting alphanumeric")
    return f"{name}:{digest(key)}"


class KeySet:
    def __init__(self, entries: list[tuple[str, bytes]]):
        self.entries = entries

    def name_of(self, key: str) -> str | None:
        """The name of ``key``'s entry, or None; every entry is compared, whatever matches."""
        presented = hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()
        found = None
        for name, expected in self.entries:
            if hmac.compare_digest(presented, expected) and found is None:
                found = name
        return found

    def authenticate(self, headers) -> str:
        """The key's name, or Unauthorized (no key, a malformed header, or a key not in the file)."""
        key = presented_key(headers)
        if not key:
            raise Unauthorized("an API key is required: send Authorization: Bearer <key> or X-API-Key: <key>")
        name = self.name_of(key)
        if name is None:
            raise Unauthorized("the API key is not valid")
        return name


def presented_key(headers) -> str | None:
    authorization = headers.get("Authorization", "")
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return headers.get("X-API-Key", "").strip() or None


def load(path: str, variable: str = "NSFW_API_KEYS_FILE", command: str = "nsfw keygen NAME") -> KeySet:
    """Read a ``name:sha256-hex`` file (``variable`` names it in errors: the API keys, or the reviewers'
    tokens); a line that is not one stops start-up, and the line itself is never echoed."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{variable}: cannot read {path}: {exc}") from None
    entries = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = LINE.fullmatch(line)
        if match is None:
            # The line itself is not shown: someone may have pasted a key instead of its digest.
            raise ConfigError(
                f"{variable} {path}, line {number}: expected name:sha256-hex "
                f"(64 lowercase hex digits; `{command}` prints such a line)"
            )
        entries.append((match.group(1), bytes.fromhex(match.group(2))))
    return KeySet(entries)


def load_api_keys(path: str) -> KeySet:
    """NSFW_API_KEYS_FILE: unlike the reviewers' file, an empty one is a mistake (it would refuse everyone)."""
    key_set = load(path)
    if not key_set.entries:
        raise ConfigError(f"NSFW_API_KEYS_FILE {path} holds no key; unset the variable for open access")
    return key_set
