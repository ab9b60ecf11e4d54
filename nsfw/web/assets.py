"""The pages' files: each page's own ``static/`` beside its views, and ``web/static/`` for what they share.

Every file is revalidated on each load (ETag), so after an upgrade no page runs last version's script.
"""

from __future__ import annotations

from pathlib import Path

from flask import Response, send_from_directory

SHARED = Path(__file__).resolve().parent / "static"
SHARED_FILES = frozenset({"base.css"})  # the colours, fonts and controls of the page at / and the review pages


def static_file(own: Path, name: str, mimetype: str) -> Response:
    """``name`` from the page's own directory ``own``, or from the shared one when it is a shared file."""
    response = send_from_directory(SHARED if name in SHARED_FILES else own, name, mimetype=mimetype)
    response.headers.pop("Content-Disposition", None)  # parts of a page, not downloads
    response.cache_control.no_cache = True
    return response
