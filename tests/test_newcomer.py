"""What a newcomer meets first (issue 19): install hints that work from where they are."""

from __future__ import annotations

import tomllib
from pathlib import Path

from nsfw import extras

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_no_message_names_a_package_no_registry_has():
    """The distribution is on no registry: a hint must name the clone's command (pip install '.[x]')."""
    wrong = f"{PROJECT['name']}["
    offenders = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "nsfw").rglob("*"))
        if path.is_file() and path.suffix in {".py", ".html", ".txt", ".md", ".js"} and wrong in path.read_text()
    ]
    assert offenders == []


def test_every_hint_names_an_extra_pyproject_declares():
    assert extras.EXTRAS == set(PROJECT["optional-dependencies"]) - {"dev"}
    assert extras.install("review") == "pip install '.[review]'"
    assert "pip install '.[video]'" in extras.hint("video")
