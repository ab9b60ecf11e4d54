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
        done = output.resume(options.output, options.fmt) if options.resume else set()
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


def _run(settings: Settings, options: Options, done: set, stream, header: bool) -> int:
    engine = LocalClassifier(settings, options.model, options.jobs or default_jobs(), options.downloads)
    try:
        engine.start()
    except StartError as exc:  # missing or altered model files: nothing can be classified
        engine.close(wait=False)
        sys.stderr.write(f"{options.prog}: error: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        engine.close(wait=False)
        raise

    summary = output.Summary()
    stop = threading.Event()
    interrupted: list[str] = []

    def on_signal(signum, frame):
        if interrupted:  # the second time: stop waiting for the images in flight
            raise KeyboardInterrupt
        interrupted.append(signal.Signals(signum).name)
        stop.set()
        if not options.quiet:
            sys.stderr.write(f"\n{options.prog}: {interrupted[0]}: finishing the images in flight (again to abort)\n")

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    progress = output.Progress(output.Progress.wanted(options.quiet))
    lost = None
    try:
        writer = output.Writer(stream, options.fmt, header=header)
        if progress.enabled and inputs.countable(options.sources):
            _count_in_background(options.sources, done, progress)

        def pending():
            for source in inputs.expand(options.sources):
                if source in done:
                    summary.skipped += 1
                else:
                    yield source

        def emit(records: list) -> None:
            writer.write(records)
            for record in records:
                summary.add(record)
            progress.update(summary, len(records))

        try:
            engine.run(pending(), emit, stop, idle=progress.update)
        except BrokenPipeError:
            raise
        except (WorkerLost, OSError) as exc:  # OSError: a list that became unreadable half-way
            lost = exc
        engine.close()
        progress.close()
        if not options.quiet:
            sys.stderr.write(summary.text(interrupted[0] if interrupted else None))
        if lost is not None:
            sys.stderr.write(f"{options.prog}: error: {lost}; run again with --resume to continue\n")
    except BrokenPipeError:  # `nsfw classify DIR | head`: the reader has all it wants
        engine.close(wait=False)
        progress.close()
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # stdout is flushed again at exit
        return EXIT_FAILED
    except KeyboardInterrupt:
        engine.close(wait=False)
        progress.close()
        return 128 + signal.SIGINT
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if interrupted:
        return 128 + getattr(signal, interrupted[0])
    return EXIT_FAILED if summary.failed or lost is not None else EXIT_OK


def _count_in_background(sources: list[str], done: set, progress: output.Progress) -> None:
    """The progress bar's total: a second, lazy pass over the same sources, in a daemon thread."""

    def count():
        try:
            progress.set_total(sum(1 for s in inputs.expand(sources) if s not in done))
        except OSError:
            pass  # the run itself reports what cannot be read

    threading.Thread(target=count, name="nsfw-count", daemon=True).start()
