"""``nsfw classify``'s worker processes: each loads one ``Detector`` and classifies what the parent sends.

Only paths (or a downloaded URL's bytes) cross the process boundary; a worker reads a file
itself, held to NSFW_MAX_BYTES like an upload, and answers with records. Its globals are set
once by ``init`` (the pool's initializer) and read by the task functions.
"""

from __future__ import annotations

import atexit
import errno
import logging
import os
import signal
import stat
from typing import TYPE_CHECKING

from nsfw.batch import records
from nsfw.errors import ServiceError, TooLarge
from nsfw.settings import Settings

if TYPE_CHECKING:
    from nsfw.pipeline import Detector
    from nsfw.verdict import Thresholds

log = logging.getLogger(__name__)

_detector: Detector | None = None
_thresholds: Thresholds | None = None
_start_error: str | None = None


def init(settings: Settings) -> None:
    global _detector, _thresholds, _start_error
    # Ignored, not handled: the parent finishes the run on Ctrl-C, and the decoder processes
    # this worker starts inherit the disposition.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    from nsfw.pipeline import Detector
    from nsfw.verdict import Thresholds

    try:
        _thresholds = Thresholds(adult=settings.adult_threshold, safe=settings.safe_threshold)
        detector = Detector(settings)
        atexit.register(detector.close)  # its decoder processes
        detector.load()
        _detector = detector
    except Exception as exc:  # noqa: BLE001 - told to the parent, which exits with status 2
        _start_error = str(exc) or repr(exc)


def ready() -> str | None:
    return _start_error


def _loaded() -> tuple[Detector, Thresholds]:
    """The worker's Detector and thresholds; the pool runs no task in a worker whose ``init`` failed."""
    if _detector is None or _thresholds is None:
        raise RuntimeError(_start_error or "the worker was not initialised")
    return _detector, _thresholds


def classify_files(paths: list[str], model: str | None) -> list[dict]:
    return [classify_file(path, model) for path in paths]


def classify_file(path: str, model: str | None) -> dict:
    try:
        detector, thresholds = _loaded()
        return records.success(path, detector.classify_bytes(read_file(path), model), thresholds)
    except (ServiceError, OSError) as exc:
        return records.from_file_error(path, exc)
    except Exception:  # a bug must cost one record, not the chunk
        log.exception("unexpected error classifying %s", path)
        return records.from_error(path, ServiceError())


def classify_data(source: str, data: bytes, model: str | None) -> list[dict]:
    try:
        detector, thresholds = _loaded()
        return [records.success(source, detector.classify_bytes(data, model), thresholds)]
    except ServiceError as exc:
        return [records.from_error(source, exc)]
    except Exception:
        log.exception("unexpected error classifying %s", source)
        return [records.from_error(source, ServiceError())]


def read_file(path: str) -> bytes:
    """A file's bytes, held to NSFW_MAX_BYTES like an upload; never blocks on a FIFO or device."""
    limit = _loaded()[0].settings.max_bytes
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with open(fd, "rb") as fh:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):  # a FIFO or a device: never read, so never waited on
            raise OSError(errno.EINVAL, "not a regular file (a FIFO, a socket or a device)", path)
        if info.st_size > limit:
            raise TooLarge(f"the file is {info.st_size} bytes; NSFW_MAX_BYTES allows {limit}")
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"the file is over {limit} bytes (NSFW_MAX_BYTES)")
    return data
