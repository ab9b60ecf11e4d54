"""Where ``nsfw classify``'s records go: JSON Lines or CSV, a progress bar, a summary, --resume.

Every record is written whole and flushed as soon as it is known, so a run that is killed
leaves at most its last line cut short; ``resume`` drops that line, keeps every complete
record and says which sources they cover, so the next run appends only what is missing.
"""

from __future__ import annotations

import collections
import csv
import io
import json
import os
import sys
import time
from typing import TextIO

from nsfw.batch import records
from nsfw.verdict import Verdict

FORMATS = ("jsonl", "csv")
VERDICTS = (Verdict.SAFE, Verdict.UNKNOWN, Verdict.ADULT)  # the summary's order: least to most


class OutputError(ValueError):
    """The output file cannot be resumed: not an output of this command in this format."""


class Writer:
    """Writes records, one line (JSONL) or one row (CSV) each, flushed at once."""

    def __init__(self, stream: TextIO, fmt: str, header: bool = True):
        self.stream = stream
        self.fmt = fmt
        if fmt == "csv":
            self._csv = csv.DictWriter(stream, fieldnames=records.COLUMNS, lineterminator="\n")
            if header:
                self._csv.writeheader()
                stream.flush()

    def write(self, batch: list[dict]) -> None:
        """Whole lines, then one flush: a killed run cuts at most its last line short."""
        if self.fmt == "csv":
            self._csv.writerows(records.flat(record) for record in batch)
        else:
            self.stream.write("".join(json.dumps(record) + "\n" for record in batch))
        self.stream.flush()


def resume(path: str, fmt: str) -> set[str]:
    """The sources already recorded in ``path``, after cutting off a last record left incomplete.

    A missing or empty file records nothing. A complete line that is not a record of this
    format means the file is something else: ``OutputError``, rather than appending to it.
    """
    try:
        fh = open(path, "r+b")
    except FileNotFoundError:
        return set()
    except OSError as exc:
        raise OutputError(f"cannot open {path}: {exc.strerror or exc}") from None
    with fh:
        done, keep = _read_jsonl(fh, path) if fmt == "jsonl" else _read_csv(fh, path)
        fh.truncate(keep)
    return done


def _read_jsonl(fh, path: str) -> tuple[set[str], int]:
    done: set[str] = set()
    keep = 0
    for line in fh:
        if not line.endswith(b"\n"):
            break  # the last record of a killed run, cut short
        try:
            record = json.loads(line)
            source = record["source"]
            if not isinstance(source, str):
                raise TypeError(source)
        except (ValueError, TypeError, KeyError):
            raise OutputError(f"{path}:{len(done) + 1} is not a JSON record of nsfw classify") from None
        done.add(source)
        keep += len(line)
    return done, keep


def _read_csv(fh, path: str) -> tuple[set[str], int]:
    offsets = _LineOffsets(fh)
    reader = csv.reader(offsets)
    done: set[str] = set()
    keep = 0
    try:
        header = next(reader, None)
        if header is None:
            return done, 0
        if tuple(header) != records.COLUMNS or not offsets.complete:
            if not offsets.complete:  # a killed run that wrote not even its header
                return done, 0
            raise OutputError(f"{path} is not a CSV output of nsfw classify (its header differs)")
        keep = offsets.offset
        for row in reader:
            if not offsets.complete:
                break  # cut short
            if len(row) != len(records.COLUMNS):
                raise OutputError(f"{path}: line {reader.line_num} is not a row of nsfw classify")
            done.add(row[0])
            keep = offsets.offset
    except csv.Error:
        if offsets.complete:
            raise OutputError(f"{path}: line {reader.line_num} is not CSV") from None
    return done, keep


class _LineOffsets:
    """Lines for ``csv.reader``, remembering where the last one handed out ends (a row may span lines)."""

    def __init__(self, fh):
        self._fh = fh
        self.offset = 0
        self.complete = True

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = self._fh.readline()
        if not line:
            raise StopIteration
        self.offset += len(line)
        self.complete = line.endswith(b"\n")
        return line.decode("utf-8", errors="surrogateescape")


def open_output(path: str | None, fmt: str, append: bool) -> tuple[TextIO, bool]:
    """The stream to write to, and whether it needs a CSV header (a new or empty file does)."""
    if path is None:
        return sys.stdout, True
    stream = open(path, "a" if append else "w", encoding="utf-8", errors="surrogateescape", newline="")
    return stream, stream.tell() == 0


class Summary:
    """Counts for the end of the run: classified by verdict, failed by error code, skipped."""

    def __init__(self):
        self.started = time.monotonic()
        self.verdicts: collections.Counter = collections.Counter()
        self.errors: collections.Counter = collections.Counter()
        self.skipped = 0  # already in the output (--resume)
        self.not_images = 0  # files in the directories that are not images

    def not_image(self, path: str) -> None:
        self.not_images += 1

    def add(self, record: dict) -> None:
        if records.is_failure(record):
            self.errors[record["error"]["code"]] += 1
        else:
            self.verdicts[record["verdict"]] += 1

    @property
    def classified(self) -> int:
        return sum(self.verdicts.values())

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    def text(self, interrupted: str | None = None) -> str:
        seconds = max(time.monotonic() - self.started, 1e-9)
        done = self.classified + self.failed
        out = io.StringIO()
        out.write(f"{done} image{'' if done == 1 else 's'} in {seconds:.1f} s ({done / seconds:.1f} images/s)")
        if interrupted:
            out.write(f", interrupted by {interrupted}: run again with --resume to continue")
        out.write("\n")
        verdicts = ", ".join(f"{v} {self.verdicts[v]}" for v in VERDICTS)
        out.write(f"  classified: {self.classified} ({verdicts})\n")
        if self.errors:
            codes = ", ".join(f"{code} {n}" for code, n in sorted(self.errors.items(), key=lambda kv: (-kv[1], kv[0])))
            out.write(f"  failed: {self.failed} ({codes})\n")
        else:
            out.write("  failed: 0\n")
        if self.skipped:
            out.write(f"  skipped: {self.skipped} (already in the output, --resume)\n")
        if self.not_images:
            out.write(f"  skipped: {self.not_images} files in the directories that are not images\n")
        return out.getvalue()


class Progress:
    """A tqdm bar on stderr, only when stderr is a terminal: done/total, images/s, errors, ETA.

    The total is unknown at first (sources are expanded lazily); ``set_total`` fills it in when
    a counting pass finishes, and the ETA appears then.
    """

    def __init__(self, enabled: bool):
        self._bar = None
        self._total: int | None = None
        if enabled:
            from tqdm import tqdm

            try:
                size = os.get_terminal_size(sys.stderr.fileno())
            except OSError:
                size = os.terminal_size((0, 0))
            # tqdm draws nothing on a terminal that reports no size (a bare pty): assume 80x24
            width = {"dynamic_ncols": True} if min(size) > 0 else {"ncols": 80, "nrows": 24}
            self._bar = tqdm(total=None, unit="img", file=sys.stderr, smoothing=0.1, **width)
            self._bar.set_postfix_str("errors=0", refresh=False)

    @property
    def enabled(self) -> bool:
        return self._bar is not None

    @staticmethod
    def wanted(quiet: bool, stream: TextIO | None = None) -> bool:
        stream = stream or sys.stderr
        try:
            return not quiet and stream.isatty() and os.environ.get("TERM") != "dumb"
        except (AttributeError, ValueError):
            return False

    def set_total(self, total: int) -> None:
        """May be called from another thread: the bar takes the total on its next update."""
        self._total = total

    def update(self, summary: Summary | None = None, records: int = 1) -> None:
        """``records`` more done (``summary`` given), or only a redraw with what is new."""
        if self._bar is None:
            return
        if self._total is not None and self._bar.total != self._total:
            self._bar.total = self._total
            self._bar.refresh()
        if summary is not None:
            self._bar.set_postfix_str(f"errors={summary.failed}", refresh=False)
            self._bar.update(records)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
