"""The runnable examples of README.md and docs/*.md: how they are marked, read and compared.

An example is a fenced block right after an HTML comment that marks it:

- ``<!-- runnable -->`` before a ``console`` block: each ``$ `` line is a command (a line ending in
  ``\\`` continues it), and the lines up to the next command are its expected output; before an
  ``sh`` block: the block runs as one script, which must succeed.
- ``<!-- runnable: serve -->`` before an ``sh`` block of one command: a server the following
  examples use (gunicorn, or Python's http.server), started in the background; a later server on
  the same port replaces it.
- ``<!-- runnable: serve: COMMAND -->`` alone: the same, for a server a page assumes is running
  without showing the command again.

Expected output is compared with what the command writes on stdout (a terminal would show its
stderr too: curl's progress meter, a summary), line by line: a line ``...`` stands for any number of lines, ``...``
inside a line for any text; lines that are JSON are compared parsed (a ``"..."`` value matches any
value, numbers to 1e-6). Expected output that is one JSON document over several lines (with line
breaks added for the page) is compared as one document. A block without expected output need
only succeed.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path
from typing import Any

MARK = re.compile(r"^<!-- runnable(?:: (serve)(?:: (.+?))?)? -->$")
WILDCARD = "..."


@dataclasses.dataclass(frozen=True)
class Example:
    page: str
    line: int
    kind: str  # "console", "script" or "serve"
    commands: tuple[tuple[str, str], ...]  # (command, expected output); one with no output for script/serve

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def _console(lines: list[str]) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, list[str]]] = []
    continuing = False
    for line in lines:
        if continuing:
            pairs[-1] = (pairs[-1][0] + "\n" + line, pairs[-1][1])
        elif line.startswith("$ "):
            pairs.append((line[2:], []))
        elif pairs:
            pairs[-1][1].append(line)
        continuing = bool(pairs) and line.endswith("\\") and not pairs[-1][1]
    return tuple((command, "\n".join(output)) for command, output in pairs)


def examples(path: Path, name: str) -> list[Example]:
    """Every marked example of one page, in page order."""
    lines = path.read_text().splitlines()
    found = []
    for number, line in enumerate(lines):
        mark = MARK.match(line.strip())
        if not mark:
            continue
        serve, inline = mark.groups()
        if inline:
            found.append(Example(name, number + 1, "serve", ((inline, ""),)))
            continue
        fence = lines[number + 1] if number + 1 < len(lines) else ""
        lang = fence.removeprefix("```")
        end = lines.index("```", number + 2)
        body = lines[number + 2 : end]
        if not fence.startswith("```") or lang not in ("console", "sh"):
            raise ValueError(f"{name}:{number + 1}: a runnable mark must precede a ```console or ```sh block")
        if lang == "console":
            found.append(Example(name, number + 1, "console", _console(body)))
        else:
            found.append(Example(name, number + 1, "serve" if serve else "script", (("\n".join(body), ""),)))
    return found


# --- comparing ----------------------------------------------------------------------------
def _same_json(expected: Any, actual: Any) -> bool:
    if expected == WILDCARD:
        return True
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and expected.keys() == actual.keys()
            and all(_same_json(v, actual[k]) for k, v in expected.items())
        )
    if isinstance(expected, list):
        return isinstance(actual, list) and len(expected) == len(actual) and all(map(_same_json, expected, actual))
    if isinstance(expected, float | int) and not isinstance(expected, bool):
        return isinstance(actual, float | int) and math.isclose(expected, actual, rel_tol=0, abs_tol=1e-6)
    return bool(expected == actual)


def _json(text: str) -> tuple[bool, Any]:
    try:
        return True, json.loads(text)
    except ValueError:
        return False, None


def same_line(expected: str, actual: str) -> bool:
    is_json, want = _json(expected)
    if is_json and isinstance(want, dict | list):
        ok, got = _json(actual)
        return ok and _same_json(want, got)
    if WILDCARD in expected:
        pattern = ".*".join(re.escape(part) for part in expected.split(WILDCARD))
        return re.fullmatch(pattern, actual) is not None
    return expected.rstrip() == actual.rstrip()


def _same_lines(expected: list[str], actual: list[str]) -> bool:
    if not expected:
        return not actual
    if expected[0].strip() == WILDCARD:
        return any(_same_lines(expected[1:], actual[i:]) for i in range(len(actual) + 1))
    return bool(actual) and same_line(expected[0], actual[0]) and _same_lines(expected[1:], actual[1:])


def same_output(expected: str, actual: str) -> bool:
    """Whether ``actual`` is what the page shows, by the rules of this module's docstring."""
    whole, want = _json(expected)
    if whole and "\n" in expected.strip():
        ok, got = _json(actual)
        return ok and _same_json(want, got)
    return _same_lines(expected.strip("\n").splitlines(), actual.strip("\n").splitlines())
