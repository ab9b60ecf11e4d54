"""Reviewer tokens: ``name:sha256-hex`` lines in NSFW_REVIEWERS_FILE, checked in constant time.

The same file format and the same check as the API keys (``nsfw.protect.keys``), in a file of
its own: a client's API key never lets anyone decide, and a reviewer needs no API key.
``nsfw reviewer NAME`` prints a new token and its line. The file is read again when it changes
(looked at once a second at most), so removing a line ends that reviewer's access, page sessions
included (``nsfw.review.sessions``), without a restart.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time

from nsfw.protect.keys import KeySet
from nsfw.protect.keys import load as load_key_file
from nsfw.settings import ConfigError

log = logging.getLogger(__name__)

RECHECK_S = 1.0  # how often the file's modification time is looked at


class Reviewers:
    """Who may decide. With no NSFW_REVIEWERS_FILE nobody may: every token is refused."""

    def __init__(self, keys: KeySet | None, path: str | None = None):
        self._keys = keys
        self._path = path
        self._lock = threading.Lock()
        self._stamp = _stamp(path) if path else None
        self._checked = time.monotonic()

    @classmethod
    def from_settings(cls, settings) -> Reviewers:
        path = settings.reviewers_file
        return cls(load(path) if path else None, path)

    def __len__(self) -> int:
        keys = self._current()
        return 0 if keys is None else len(keys.entries)

    def authenticate(self, token: str) -> str | None:
        """The reviewer's name for ``token``, or None; every entry is compared, whatever matches."""
        found = self.identify(token)
        return None if found is None else found[0]

    def identify(self, token: str) -> tuple[str, str] | None:
        """``(name, key)`` for ``token``: ``key`` names the file's line (not the token), for ``holds``."""
        keys = self._current()
        if keys is None or not token:
            return None
        name = keys.name_of(token)
        if name is None:
            return None
        return name, _line_key(name, hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest())

    def holds(self, name: str, key: str) -> bool:
        """Whether the line ``identify`` named is still in the file (not removed, the token not changed)."""
        keys = self._current()
        return keys is not None and any(
            entry == name and _line_key(entry, expected) == key for entry, expected in keys.entries
        )

    def _current(self) -> KeySet | None:
        """The entries, read again if the file changed since it was last read."""
        if self._path is None or time.monotonic() - self._checked < RECHECK_S:
            return self._keys
        with self._lock:
            self._checked = time.monotonic()
            stamp = _stamp(self._path)
            if stamp != self._stamp:
                try:
                    self._keys = load(self._path)
                except ConfigError as exc:  # half-written, or gone: keep the last good one, say so
                    log.error("%s; the reviewers read before stay in force", exc)
                else:
                    log.info("NSFW_REVIEWERS_FILE changed: %d reviewers", len(self._keys.entries))
                self._stamp = stamp
        return self._keys


def _stamp(path: str) -> tuple[int, int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size, info.st_ino


def _line_key(name: str, digest: bytes) -> str:
    return hashlib.sha256(name.encode() + b":" + digest).hexdigest()


def load(path: str) -> KeySet:
    """Read NSFW_REVIEWERS_FILE, the API keys' format; an empty one means nobody may decide yet."""
    return load_key_file(path, "NSFW_REVIEWERS_FILE", "nsfw reviewer NAME")
