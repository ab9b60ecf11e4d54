"""How every message names the command that adds an optional part ("extra") of the package.

The package is not on any registry: a message that named the distribution's own name with the extra
sent a newcomer to a name nobody serves. From a clone of the repository (where the error
usually meets them) the command that works is ``pip install '.[review]'``; the docs give the
form for an install from a built wheel (``docs/operations.md``). One function says it, so every
hint stays the same.
"""

from __future__ import annotations

#: The extras pyproject.toml declares (tests/test_newcomer.py keeps the two in step).
EXTRAS = frozenset({"tensorflow", "bulk", "review", "video", "postgres"})


def install(extra: str) -> str:
    """``pip install '.[extra]'``, the command that adds ``extra`` from a clone of the repository."""
    if extra not in EXTRAS:
        raise ValueError(f"not an extra of this package: {extra}")
    return f"pip install '.[{extra}]'"


def hint(extra: str) -> str:
    """The hint a message ends with: the extra's name and the clone's command."""
    return f"install the '{extra}' extra (from a clone of the repository: {install(extra)})"
