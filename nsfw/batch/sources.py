"""Which files of a directory tree are images: shared by ``nsfw classify`` and ``nsfw bulk``.

Images are recognised by their first bytes (the formats the decoder accepts), never by their
extension: cameras and scrapers name files anything. Symbolic links are followed only when
they stay inside the tree, so a link to ``/`` or to another user's files is never read.

Nothing under the tree disappears without a word: a file that is not an image (or a link
leading out of the tree, or a FIFO or device) is passed to ``skipped`` so the caller can
count it, and a file that cannot be read is yielded like an image, so that reading it fails
with a record that says why.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

from nsfw.imaging.headers import HEAD_BYTES, sniff_format


def is_image(path: str | os.PathLike) -> bool:
    """True if the file starts like an image the service decodes; False if not, or unreadable."""
    return sniff_file(path) is True


def sniff_file(path: str | os.PathLike) -> bool | None:
    """True: it starts like an image the service decodes; False: it does not; None: unreadable."""
    try:
        with open(path, "rb") as fh:
            return sniff_format(fh.read(HEAD_BYTES)) is not None
    except OSError:
        return None


def walk_images(root: str | os.PathLike, skipped: Callable[[str], None] | None = None) -> Iterator[str]:
    """Every image file under ``root``, recursively, in a stable (sorted) order, and every file
    that cannot be read (its reader records why); ``skipped(path)`` for each other entry."""
    base = Path(root).resolve()
    for directory, subdirs, files in os.walk(base, followlinks=False):
        subdirs.sort()
        # a symlinked directory is listed among subdirs but not entered (followlinks=False);
        # one that stays inside the tree would repeat files already walked, so none is entered
        for name in sorted(files):
            path = Path(directory, name)
            shown = str(Path(root, path.relative_to(base)))
            if _wanted(path, base):
                yield shown
            elif skipped is not None:
                skipped(shown)


def _wanted(path: Path, base: Path) -> bool:
    """An image, or a file of the tree that cannot be read (a dangling link among them)."""
    if path.is_symlink() and not _inside(path, base):
        return False  # never read: it leads out of the tree
    if not path.is_file():
        return not path.exists()  # a dangling link: unreadable; a FIFO or a device: not an image
    return sniff_file(path) is not False


def _inside(path: Path, base: Path) -> bool:
    try:
        return path.resolve().is_relative_to(base)
    except (OSError, RuntimeError):  # a loop or a dangling link
        return False
