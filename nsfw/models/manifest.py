"""The shipped models' ``manifest.json``, read here and nowhere else.

The manifest lists every model the build knows under ``"models"`` (file, classes, input
size, description), the sha256 of every file under ``"files"``, and the provenance
(``"source"``, ``"licenses"``). The runner, the registry and ``nsfw models`` all read it
through ``read`` so they agree on where it is and what a broken one means.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

NAME = "manifest.json"


def path(model_dir: Path | str) -> Path:
    return Path(model_dir) / NAME


def read(model_dir: Path | str) -> dict[str, Any]:
    """The parsed manifest; ``OSError`` or ``ValueError`` when it is missing or not JSON."""
    loaded = json.loads(path(model_dir).read_text())
    if not isinstance(loaded, dict):
        raise ValueError(f"{path(model_dir)} is not a JSON object")
    return loaded


def read_or_empty(model_dir: Path | str) -> dict[str, Any]:
    """The manifest, or ``{}`` where describing is all that is asked (loading reports the error)."""
    try:
        return read(model_dir)
    except (OSError, ValueError):
        return {}


def models(model_dir: Path | str) -> dict[str, Any]:
    """The ``"models"`` table, or ``{}`` when the manifest cannot be read."""
    table = read_or_empty(model_dir).get("models")
    return dict(table) if isinstance(table, dict) else {}
