"""What ``nsfw classify`` is asked to classify: its arguments, expanded lazily into sources.

An argument is a file, a directory (every image under it, by ``sources.walk_images``), an
``http(s)`` URL, ``@LIST`` (a text file of such arguments, one a line) or ``-`` (the same,
read from standard input). Expansion is a generator: a directory of a million files or a
list of a million URLs is never held in memory, and classification starts at once.

A source is kept as the string the user gave (or ``walk_images`` made of it): that string
is the record's ``source``, which is what ``--resume`` looks for in an earlier output.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import TextIO

from nsfw.batch.sources import walk_images

STDIN = "-"


class InputError(ValueError):
    """An argument that makes the whole command line unusable (a usage error, exit status 2)."""


def is_url(source: str) -> bool:
    return source[:8].lower().startswith(("http://", "https://"))


def check(arguments: Iterable[str]) -> None:
    """Refuse, before any work, what cannot be expanded at all: an unreadable @LIST, ``-`` twice.

    A file or directory that does not exist is not refused here: it becomes a failed item
    (``unreadable``) like any other file that cannot be read, and the rest is still classified.
    """
    stdin_seen = False
    for argument in arguments:
        if argument == STDIN:
            if stdin_seen:
                raise InputError("'-' (standard input) may be given only once")
            stdin_seen = True
        elif argument.startswith("@"):
            try:
                with open(argument[1:], "rb"):
                    pass
            except OSError as exc:
                raise InputError(f"cannot read the list {argument}: {exc.strerror or exc}") from None


Skipped = Callable[[str], None] | None  # told of each file in a directory that is not an image


def expand(arguments: Iterable[str], stdin: TextIO | None = None, skipped: Skipped = None) -> Iterator[str]:
    """Every source the arguments name, in order, lazily; ``skipped(path)`` for each file of a
    directory that is not an image (so the summary can count it)."""
    for argument in arguments:
        if argument == STDIN:
            yield from _expand_lines(stdin if stdin is not None else sys.stdin, skipped)
        elif argument.startswith("@"):
            with open(argument[1:], encoding="utf-8", errors="surrogateescape") as lines:
                yield from _expand_lines(lines, skipped)
        else:
            yield from _expand_one(argument, skipped)


def countable(arguments: Iterable[str]) -> bool:
    """Whether the sources can be counted in advance (standard input can be read only once)."""
    return STDIN not in arguments


def _expand_lines(lines: Iterable[str], skipped: Skipped) -> Iterator[str]:
    """One source a line (a list's lines are files, directories or URLs; never another list)."""
    for line in lines:
        line = line.strip("\r\n")
        if line.strip():
            yield from _expand_one(line, skipped)


def _expand_one(source: str, skipped: Skipped) -> Iterator[str]:
    if not is_url(source) and os.path.isdir(source):
        yield from walk_images(source, skipped)
    else:
        yield source  # a file, a URL, or something that does not exist: classify says which
