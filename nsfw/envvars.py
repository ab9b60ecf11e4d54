"""How one environment variable becomes one setting: the ``Var`` record and its parsers.

Each field of :class:`nsfw.settings.Settings` is declared with :func:`var`, which holds the
variable's name, default, parser and one-line description in one place. ``Settings.from_env``
reads every field through its ``Var``; ``docs/gen_pages.py`` renders the same records as the
Configuration page, so the documented defaults are the ones the code uses.
A parser turns the raw text into a value, or answers :data:`UNSET` (the field keeps its
default), or raises ``ConfigError`` naming the variable.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, TypeVar

T = TypeVar("T")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigError(ValueError):
    """An environment variable holds a value the service cannot use."""


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()  # a parser's answer for "not set": the field keeps its default


@dataclasses.dataclass(frozen=True)
class Number:
    """An int or float, within [low, high] when those are given."""

    kind: type[int] | type[float]
    low: float | None = None
    high: float | None = None

    def __call__(self, name: str, raw: str) -> object:
        raw = raw.strip()
        if not raw:
            return UNSET
        try:
            value = self.kind(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not a valid {self.kind.__name__}") from None
        low, high = self.low, self.high
        if value != value or (low is not None and value < low) or (high is not None and value > high):
            raise ConfigError(f"{name}={raw!r} is out of range [{low}, {high}]")
        return value

    def describe(self) -> str:
        kind = "integer" if self.kind is int else "number"
        if self.low is not None and self.high is not None:
            return f"{kind}, {self.low} to {self.high}"
        if self.low is not None:
            return f"{kind}, at least {self.low}"
        return kind


@dataclasses.dataclass(frozen=True)
class Flag:
    """1/true/yes/on or 0/false/no/off, in any case."""

    def __call__(self, name: str, raw: str) -> object:
        raw = raw.strip().lower()
        if raw == "":
            return UNSET
        if raw in ("0", "false", "no", "off"):
            return False
        if raw in ("1", "true", "yes", "on"):
            return True
        raise ConfigError(f"{name}={raw!r} is not a boolean (1 or 0)")

    def describe(self) -> str:
        return "flag: 1 or 0"


@dataclasses.dataclass(frozen=True)
class Text:
    """Free text; empty means unset. ``choices`` only documents what the Settings checks accept."""

    strip: bool = False
    lower: bool = False
    choices: tuple[str, ...] = ()

    def __call__(self, name: str, raw: str) -> object:
        value = raw.strip() if self.strip else raw
        value = value.lower() if self.lower else value
        return value or UNSET

    def describe(self) -> str:
        return "one of " + ", ".join(self.choices) if self.choices else "text"


@dataclasses.dataclass(frozen=True)
class PathText:
    """A file-system path; empty means unset."""

    def __call__(self, name: str, raw: str) -> object:
        return Path(raw) if raw else UNSET

    def describe(self) -> str:
        return "path"


def _items(raw: str) -> list[str]:
    return [p.strip() for p in raw.split(",") if p.strip()]


@dataclasses.dataclass(frozen=True)
class Networks:
    """Comma-separated CIDR networks."""

    def __call__(self, name: str, raw: str) -> object:
        nets: list[Network] = []
        for part in _items(raw):
            try:
                nets.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise ConfigError(f"{name}: {part!r} is not a CIDR network") from None
        return tuple(nets) if nets else UNSET

    def describe(self) -> str:
        return "comma-separated CIDR networks"


@dataclasses.dataclass(frozen=True)
class Ports:
    """Comma-separated TCP ports."""

    def __call__(self, name: str, raw: str) -> object:
        ports: set[int] = set()
        for part in _items(raw):
            if not part.isdigit() or not 1 <= int(part) <= 65535:
                raise ConfigError(f"{name}: {part!r} is not a TCP port")
            ports.add(int(part))
        return frozenset(ports) if ports else UNSET

    def describe(self) -> str:
        return "comma-separated TCP ports"


@dataclasses.dataclass(frozen=True)
class Names:
    """Comma-separated names, duplicates dropped, order kept."""

    def __call__(self, name: str, raw: str) -> object:
        return tuple(dict.fromkeys(_items(raw))) or UNSET

    def describe(self) -> str:
        return "comma-separated names"


Parser = Number | Flag | Text | PathText | Networks | Ports | Names


@dataclasses.dataclass(frozen=True)
class Var:
    """One environment variable: its name, parser, one-line description and documented default."""

    env: str
    parse: Parser
    doc: str
    shown: str  # the default as the Configuration page shows it

    def read(self, environ: Mapping[str, str]) -> object:
        """The value ``environ`` sets, or UNSET."""
        return self.parse(self.env, environ.get(self.env, ""))


def _shown(default: object) -> str:
    if default is None:
        return "empty"
    if isinstance(default, bool):
        return "`1`" if default else "`0`"
    if isinstance(default, tuple | frozenset):
        items = sorted(default) if isinstance(default, frozenset) else default
        return "`" + ",".join(str(d) for d in items) + "`" if items else "empty"
    if isinstance(default, float) and default.is_integer():
        return f"`{int(default)}`"
    return f"`{default}`"


def var(env: str, default: T, parse: Parser, doc: str, *, shown: str | None = None, repr: bool = True) -> T:
    """A Settings field read from ``env``; ``shown`` documents a default computed elsewhere."""
    meta = {"var": Var(env, parse, doc, shown if shown is not None else _shown(default))}
    return dataclasses.field(default=default, metadata=meta, repr=repr)


def var_factory(env: str, factory: Callable[[], T], parse: Parser, doc: str, *, shown: str) -> T:
    """A Settings field whose default is computed when a Settings is made (the host's CPUs, say)."""
    return dataclasses.field(default_factory=factory, metadata={"var": Var(env, parse, doc, shown)})


def read_all(fields: tuple[dataclasses.Field[Any], ...], environ: Mapping[str, str]) -> dict[str, object]:
    """Every field's value set in ``environ``, by field name; fields not set are left out."""
    values: dict[str, object] = {}
    for field in fields:
        declared = field.metadata.get("var")
        if declared is not None and (value := declared.read(environ)) is not UNSET:
            values[field.name] = value
    return values
