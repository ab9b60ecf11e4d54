"""Constants every test module may import: where the test data is, and the model's classes.

Fixtures live in conftest.py (pytest finds them there); plain values live here, so a test
imports them from a module meant to be imported rather than from pytest's conftest.
"""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent
IMAGES = TESTS / "data" / "images"
GOLDEN = TESTS / "golden" / "golden.json"
CLASSES = ("drawings", "hentai", "neutral", "porn", "sexy")
