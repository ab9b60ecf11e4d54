"""``nsfw classify`` from parsed options to an exit status: output, engine, signals, summary.

``nsfw/cli/classify.py`` only parses the command line; this module decides what a run does with
its arguments, when it stops and what it reports.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any, TextIO

from nsfw.batch import inputs, output
from nsfw.batch.local import LocalClassifier, StartError, WorkerLost, default_jobs
from nsfw.errors import UsageError
from nsfw.settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


@dataclasses.dataclass(frozen=True)
class Options:
    sources: list[str]
    model: str | None = None
    jobs: int | None = None  # None: the CPUs this process may use
    downloads: int = 16
    fmt: str = "jsonl"
    output: str | None = None
    resume: bool = False
    quiet: bool = False
    prog: str = "nsfw classify"


def classify(settings: Settings, options: Options) -> int:
    """Run ``nsfw classify``; ``UsageError`` before any work if the arguments cannot work."""
    if options.resume and not options.output:
        raise UsageError("--resume needs --output FILE (the records to continue)")
    try:
        inputs.check(options.sources)
        done = output.resume(options.output, options.fmt) if options.resume and options.output else set()
        stream, header = output.open_output(options.output, options.fmt, append=options.resume)
    except (inputs.InputError, output.OutputError) as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot write {options.output}: {exc.strerror or exc}") from None
    try:
        return _run(settings, options, done, stream, header)
    finally:
        if stream is not sys.stdout:
            stream.close()


def _run(settings: Settings, options: Options, done: set, stream: TextIO, header: bool) -> int:
    engine = _started_engine(settings, options)
    if engine is None:
        return EXIT_USAGE
    summary = output.Summary()
    with _Interrupts(options) as interrupts:
        progress = output.Progress(output.Progress.wanted(options.quiet))
        try:
            lost = _classify_all(engine, options, done, (stream, header), summary, progress, interrupts)
        except BrokenPipeError:  # `nsfw classify DIR | head`: the reader has all it wants
            engine.close(wait=False)
            progress.close()
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # stdout is flushed again at exit
            return EXIT_FAILED
        except KeyboardInterrupt:
            engine.close(wait=False)
            progress.close()
            return 128 + signal.SIGINT
    if interrupts.name is not None:
        return 128 + getattr(signal, interrupts.name)
    return EXIT_FAILED if summary.failed or lost is not None else EXIT_OK


def _started_engine(settings: Settings, options: Options) -> LocalClassifier | None:
    """The workers, each with its models loaded; None (and the reason on stderr) if they cannot load."""
    engine = LocalClassifier(settings, options.model, options.jobs or default_jobs(), options.downloads)
    try:
        engine.start()
    except StartError as exc:  # missing or altered model files: nothing can be classified
        engine.close(wait=False)
        sys.stderr.write(f"{options.prog}: error: {exc}\n")
        return None
    except KeyboardInterrupt:
        engine.close(wait=False)
        raise
    return engine


def _classify_all(
    engine: LocalClassifier,
    options: Options,
    done: set,
    out: tuple[TextIO, bool],
    summary: output.Summary,
    progress: output.Progress,
    interrupts: _Interrupts,
) -> Exception | None:
    """Every pending source through ``engine``, records to ``out``; the summary on stderr.
    Returns what ended the run early (a lost worker, an unreadable list), or None."""
    writer = output.Writer(out[0], options.fmt, header=out[1])
    if progress.enabled and inputs.countable(options.sources):
        _count_in_background(options.sources, done, progress)

    def pending() -> Iterator[str]:
        for source in inputs.expand(options.sources, skipped=summary.not_image):
            if source in done:
                summary.skipped += 1
            else:
                yield source

    def emit(records: list) -> None:
        writer.write(records)
        for record in records:
            summary.add(record)
        progress.update(summary, len(records))

    lost: Exception | None = None
    try:
        engine.run(pending(), emit, interrupts.stop, idle=progress.update)
    except BrokenPipeError:
        raise
    except (WorkerLost, OSError) as exc:  # OSError: a list that became unreadable half-way
        lost = exc
    engine.close()
    progress.close()
    if not options.quiet:
        sys.stderr.write(summary.text(interrupts.name))
    if lost is not None:
        sys.stderr.write(f"{options.prog}: error: {lost}; run again with --resume to continue\n")
    return lost


class _Interrupts:
    """SIGINT and SIGTERM while a run lasts: the first sets ``stop`` (the images in flight are
    finished and written), the second raises KeyboardInterrupt (stop waiting for them)."""

    def __init__(self, options: Options):
        self.prog, self.quiet = options.prog, options.quiet
        self.stop = threading.Event()
        self.name: str | None = None  # the first signal's name, once one came
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _Interrupts:
        self._previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc_info: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _on_signal(self, signum: int, frame: object) -> None:
        if self.name is not None:  # the second time: stop waiting for the images in flight
            raise KeyboardInterrupt
        self.name = signal.Signals(signum).name
        self.stop.set()
        if not self.quiet:
            sys.stderr.write(f"\n{self.prog}: {self.name}: finishing the images in flight (again to abort)\n")


def _count_in_background(sources: list[str], done: set, progress: output.Progress) -> None:
    """The progress bar's total: a second, lazy pass over the same sources, in a daemon thread."""

    def count():
        try:
            progress.set_total(sum(1 for s in inputs.expand(sources) if s not in done))
        except OSError:
            pass  # the run itself reports what cannot be read

    threading.Thread(target=count, name="nsfw-count", daemon=True).start()
