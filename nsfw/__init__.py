"""NSFW image classification: the GantMan nsfw_model (nsfwjs) as a library and an HTTP API.

The pipeline reads in one direction, one subpackage per stage:
``fetch`` (url -> bytes) -> ``imaging`` (bytes -> model input) -> ``models`` (input -> scores)
-> ``verdict`` (scores -> adult / unknown / safe) -> ``web`` (HTTP). ``pipeline.Detector`` is
the core that the server, the CLI and batch jobs all build; ``settings`` and ``errors`` are
shared by every stage. Importing this package imports nothing heavy (no Flask, no model).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from nsfw.settings import Settings

__all__ = ["create_app"]


def create_app(settings: Settings | None = None) -> Flask:
    """The Flask application (see :func:`nsfw.web.create_app`); kept here for ``from nsfw import create_app``."""
    from nsfw.web import create_app as _create_app

    return _create_app(settings)
