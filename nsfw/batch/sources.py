"""Which files of a directory tree are images: shared by ``nsfw classify`` and ``nsfw bulk``.

Images are recognised by their first bytes (the formats the decoder accepts), never by their
extension: cameras and scrapers name files anything. Symbolic links are followed only when
they stay inside the tree, so a link to ``/`` or to another user's files is never read.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from nsfw.imaging.headers import HEAD_BYTES, sniff_format


def is_image(path: str | os.PathLike) -> bool:
    """True if the file starts like an image the service decodes; False if not, or unreadable."""
    try:
        with open(path, "rb") as fh:
            return sniff_format(fh.read(HEAD_BYTES)) is not None
    except OSError:
        return False


def walk_images(root: str | os.PathLike) -> Iterator[str]:
    """Every image file under ``root``, recursively, in a stable (sorted) order."""
    base = Path(root).resolve()
    for directory, subdirs, files in os.walk(base, followlinks=False):
        subdirs.sort()
        # a symlinked directory is listed among subdirs but not entered (followlinks=False);
        # one that stays inside the tree would repeat files already walked, so none is entered
        for name in sorted(files):
            path = Path(directory, name)
            if path.is_symlink() and not _inside(path, base):
                continue
            if path.is_file() and is_image(path):
                yield str(Path(root, path.relative_to(base)))


def _inside(path: Path, base: Path) -> bool:
    try:
        return path.resolve().is_relative_to(base)
    except (OSError, RuntimeError):  # a loop or a dangling link
        return False
