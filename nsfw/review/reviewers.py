"""Reviewer tokens: ``name:sha256-hex`` lines in NSFW_REVIEWERS_FILE, checked in constant time.

The same file format and the same check as the API keys (``nsfw.protect.keys``), in a file of
its own: a client's API key never lets anyone decide, and a reviewer needs no API key.
``nsfw reviewer NAME`` prints a new token and its line.
"""

from __future__ import annotations

from nsfw.protect.keys import KeySet
from nsfw.protect.keys import load as load_key_file


class Reviewers:
    """Who may decide. With no NSFW_REVIEWERS_FILE nobody may: every token is refused."""

    def __init__(self, keys: KeySet | None):
        self._keys = keys

    @classmethod
    def from_settings(cls, settings) -> Reviewers:
        return cls(load(settings.reviewers_file) if settings.reviewers_file else None)

    def __len__(self) -> int:
        return 0 if self._keys is None else len(self._keys.entries)

    def authenticate(self, token: str) -> str | None:
        """The reviewer's name for ``token``, or None; every entry is compared, whatever matches."""
        if self._keys is None or not token:
            return None
        return self._keys.name_of(token)


def load(path: str) -> KeySet:
    """Read NSFW_REVIEWERS_FILE, the API keys' format; an empty one means nobody may decide yet."""
    return load_key_file(path, "NSFW_REVIEWERS_FILE", "nsfw reviewer NAME")
