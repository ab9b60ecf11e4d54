"""Hash-list files: read and check them whole before anything is imported, and write them back.

Two formats, told apart by the first line that is not blank or a ``#`` comment:

- one PDQ hash per line (64 hex digits);
- CSV or TSV with a header naming a ``pdq`` column (ThreatExchange and Hasher-Matcher-Actioner
  exports; ``hash`` or ``signal`` are read as that column too), and optional ``distance`` (a per-row
  match distance) and ``quality`` (PDQ's 0-100 score) columns. Other columns are ignored.

A line that is not valid stops the whole read with :class:`InvalidHashList` naming the line, so a
caller imports all of a file or none of it.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from nsfw.errors import InvalidHashList
from nsfw.known.index import MAX_RADIUS

ACTIONS = ("adult", "safe", "reject")
HASH_COLUMNS = ("pdq", "hash", "signal", "signal_value")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_HEX = re.compile(r"^[0-9a-f]{64}$")


class Entry(NamedTuple):
    """One hash of a list: 64 lowercase hex digits, its own distance and PDQ quality when given.
    A tuple, not a dataclass: a million of them are made in an import."""

    pdq: str
    distance: int | None = None
    quality: int | None = None


def parse_hash(text: str) -> str | None:
    """The hash as 64 lowercase hex digits, or None when ``text`` is not a PDQ hash."""
    value = text.strip().lower()
    return value if _HEX.match(value) else None


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise InvalidHashList("a list name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return name


def check_action(action: str) -> str:
    if action not in ACTIONS:
        raise InvalidHashList(f"the action must be one of {', '.join(ACTIONS)}")
    return action


def read(text: str) -> list[Entry]:
    """Every entry of a hash-list file, duplicates dropped (the first kept), or InvalidHashList."""
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith("#")), None)
    if first is None:
        return []
    head = lines[first]
    if "," in head or "\t" in head or head.strip().lower() in HASH_COLUMNS:  # a header, even of one column
        entries = _delimited(lines, first, "\t" if "\t" in head else ",")
    else:
        entries = _plain(lines)
    unique: dict[str, Entry] = {}
    for entry in entries:
        unique.setdefault(entry.pdq, entry)
    return list(unique.values())


def _plain(lines: list[str]) -> Iterator[Entry]:
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        value = parse_hash(text)
        if value is None:
            raise InvalidHashList(f"line {number}: not a PDQ hash (64 hex digits): {_shown(text)}")
        yield Entry(value)


def _delimited(lines: list[str], first: int, delimiter: str) -> Iterator[Entry]:
    rows = csv.reader(lines[first:], delimiter=delimiter)
    header = [name.strip().lower() for name in next(rows)]
    column = next((header.index(name) for name in HASH_COLUMNS if name in header), None)
    if column is None:
        raise InvalidHashList(f"line {first + 1}: the header names no pdq column: {_shown(lines[first])}")
    distance = header.index("distance") if "distance" in header else None
    quality = header.index("quality") if "quality" in header else None
    for offset, row in enumerate(rows, first + 2):
        if not row or not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise InvalidHashList(f"line {offset}: {len(row)} fields where the header has {len(header)}")
        value = parse_hash(row[column])
        if value is None:
            raise InvalidHashList(f"line {offset}: not a PDQ hash (64 hex digits): {_shown(row[column])}")
        yield Entry(
            value,
            _number(row, distance, offset, "distance", MAX_RADIUS),
            _number(row, quality, offset, "quality", 100),
        )


def _number(row: list[str], index: int | None, line: int, name: str, high: int) -> int | None:
    if index is None or not row[index].strip():
        return None
    text = row[index].strip()
    if not text.isdigit() or int(text) > high:
        raise InvalidHashList(f"line {line}: {name} must be a whole number from 0 to {high}: {_shown(text)}")
    return int(text)


def write(entries: Iterable[Entry]) -> Iterator[str]:
    """A list as CSV lines (``pdq,distance,quality``), as ``read`` takes it back."""
    yield "pdq,distance,quality\n"
    for entry in entries:
        distance = "" if entry.distance is None else entry.distance
        quality = "" if entry.quality is None else entry.quality
        yield f"{entry.pdq},{distance},{quality}\n"


def _shown(text: str) -> str:
    """At most 80 characters of a bad value, as repr: enough to find it, never a whole line dumped."""
    return repr(text[:80] + ("..." if len(text) > 80 else ""))
