"""``nsfw classify SOURCE ...``: its options, and the hand-over to ``nsfw.batch.run``."""

from __future__ import annotations

import argparse

from nsfw.batch.options import positive_int
from nsfw.cli.texts import EPILOG
from nsfw.errors import UsageError
from nsfw.settings import Settings

DEFAULT_DOWNLOADS = 16

CLASSIFY_DESCRIPTION = """\
Classify images on every core, with the same core and the same scores as the HTTP API.

SOURCE is an image file (any name: the bytes decide), a directory (every image under
it, recursively, found by its first bytes; symbolic links are followed only when they
stay inside it), an http(s) URL (fetched as the server fetches: private addresses
refused, NSFW_MAX_BYTES, NSFW_FETCH_TIMEOUT), @LIST (a text file of sources, one a line,
paths relative to the current directory) or - (the same, read from stdin). A file named
like that: ./@name, ./-. A path that does not exist, or a file that cannot be read, is a
failed record ("unreadable"); the other files of a directory that are not images are
counted as skipped in the summary.

--jobs worker processes each load the model once and classify one image at a time
(decoding in a sandboxed child, as in the server) while --downloads threads fetch URLs.
Ctrl-C stops taking new sources, finishes and writes the images in flight, prints the
summary and exits 130; --resume then continues where the run stopped.

examples:
  %(prog)s tests/data/images
  %(prog)s --format csv --output results.csv ~/Pictures
  %(prog)s --output results.jsonl --resume @urls.txt
  find . -name '*.jpg' | %(prog)s -
"""


def add_parser(
    commands: argparse._SubParsersAction, prog: str, formatter: type[argparse.HelpFormatter]
) -> argparse.ArgumentParser:
    classify = commands.add_parser(
        "classify",
        prog=f"{prog} classify",
        usage="%(prog)s [options] SOURCE [SOURCE ...]",
        description=CLASSIFY_DESCRIPTION,
        epilog=EPILOG,
        formatter_class=formatter,
    )
    classify.add_argument(
        "images",
        nargs="+",
        metavar="SOURCE",
        help="an image file, a directory, an http(s) URL, @LIST (a file of sources, one a line) or - (stdin)",
    )
    classify.add_argument("--model", help="one of the served models (default: the first of NSFW_MODELS)")
    classify.add_argument(
        "-j",
        "--jobs",
        type=positive_int,
        default=None,
        metavar="N",
        help="worker processes, each classifying one image at a time (default: the CPUs this process may use)",
    )
    classify.add_argument(
        "--downloads",
        type=positive_int,
        default=DEFAULT_DOWNLOADS,
        metavar="N",
        help=f"URLs downloaded at once, while the workers classify (default: {DEFAULT_DOWNLOADS})",
    )
    classify.add_argument(
        "-f", "--format", choices=("jsonl", "csv"), default="jsonl", help="output format (default: jsonl)"
    )
    classify.add_argument("-o", "--output", metavar="FILE", help="write the records to FILE instead of stdout")
    classify.add_argument(
        "--resume",
        action="store_true",
        help="with --output: skip the sources FILE already has a record for (failed ones too: delete "
        "their lines to retry them), cut off a last record left incomplete, append the others",
    )
    classify.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bar and no summary on stderr (errors still)"
    )
    classify.set_defaults(run=run, parser=classify)
    return classify


def run(args: argparse.Namespace) -> int:
    from nsfw.batch import run as batch_run

    settings = Settings.from_env()
    if args.model is not None and args.model not in settings.models:
        args.parser.error(f"--model {args.model!r} is not served; NSFW_MODELS gives {', '.join(settings.models)}")
    options = batch_run.Options(
        sources=args.images,
        model=args.model,
        jobs=args.jobs,
        downloads=args.downloads,
        fmt=args.format,
        output=args.output,
        resume=args.resume,
        quiet=args.quiet,
        prog=args.parser.prog,
    )
    try:
        return batch_run.classify(settings, options)
    except UsageError as exc:
        parser: argparse.ArgumentParser = args.parser
        parser.error(str(exc))
