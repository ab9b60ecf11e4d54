"""``nsfw bulk``: classify more images than one machine holds, on Ray Data.

The sources (a directory, a list of paths or URLs, a Parquet column) become a Ray dataset
of one ``source`` column; ``map_batches`` hands batches of it to a pool of actors
(:class:`Classifier`), each holding one loaded :class:`~nsfw.pipeline.Detector`, so a model
is loaded once per actor, not once per image. An actor reads local files itself and fetches
URLs only through the Detector's SSRF-safe fetcher: never through Ray's own URL download,
which checks no address. Every source gives one row (``records.flat``): a failed image is a
row with an error code, never a failed job.

Ray is an optional extra (``bulk``: ``pip install '.[bulk]'`` from a clone) imported only by ``run``
and the actors, so neither ``import nsfw`` nor the server ever loads it; nor does building
the ``nsfw`` command line load the core, which only ``run`` and the actors need. What is read
and written (pyarrow, no Ray) is in ``bulk_io``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time

from nsfw.batch.bulk_io import SOURCE, Output, list_sources
from nsfw.batch.bulk_work import DEFAULT_BATCH_SIZE, classify
from nsfw.batch.options import positive_float, positive_int
from nsfw.errors import UsageError
from nsfw.extras import hint
from nsfw.settings import Settings

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
INSTALL_HINT = hint("bulk")
FORMATS = ("parquet", "jsonl")
# Ray phones home with usage statistics unless told not to; a classifier of private images must not.
# A single-node Ray started here keeps token authentication (Ray's default), without warning about it.
RAY_ENVIRONMENT = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token"}
# --quiet: Ray Data's log lines and the core's error-level notes stay in Ray's log files
RAY_QUIET = {"RAY_DATA_LOG_LEVEL": "ERROR", "RAY_BACKEND_LOG_LEVEL": "fatal"}
# A Ray started here serves this machine only: Ray's switch for single-machine mode (named for
# the platforms where it is the default) makes every Ray process listen on and talk to loopback
# instead of the machine's network address. Read when Ray is imported.
RAY_LOCAL_ONLY = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}

DESCRIPTION = """\
Classify every image of SRC with the same core (and the same scores) as `nsfw classify`
and the HTTP API, on Ray Data: a pool of Ray actors, each with one loaded model, takes
batches of sources. Without --address, the command starts a single-node Ray on this
machine (and stops it at the end); with --address it joins a running Ray cluster.

SRC is one of
  a directory        every image file under it (recognised by its bytes), listed here
  FILE.txt           one path or http(s) URL per line (blank lines skipped)
  FILE.csv           a `url` or `path` column, or a single column without a header
  FILE.parquet       a `url` or `path` column (a file or a directory of Parquet files)
Lists may live on any filesystem pyarrow opens (s3://, gs://, hdfs://, file://). An image
source is an http(s) URL (fetched with every limit and address check of the server), a
local path as the worker machine sees it, or a pyarrow filesystem URI (s3://bucket/a.jpg).

DST is
  FILE.parquet       one Parquet file, written by this process as results arrive
  FILE.jsonl         JSON Lines (.jsonl, .ndjson or .json), one record per line
  DIR/               a directory of Parquet files written by the Ray workers
                     (a trailing / or an existing directory; it must be empty)
"""

OUTPUT = """\
output:
  One row per source, in input order. Parquet columns: source, model, drawings, hentai,
  neutral, porn, sexy, nsfw (porn + hentai + sexy), verdict (adult / unknown / safe, by
  NSFW_ADULT_THRESHOLD and NSFW_SAFE_THRESHOLD), top (the highest class), error_code,
  error_message; strings and float64, null where a column does not apply. A source that
  failed has only source, error_code and error_message: the code the HTTP API would
  answer (blocked_address, unsupported_media, fetch_timeout, ...) or "unreadable" for a
  file that cannot be opened. JSON Lines holds the same records, errors as
    {"source": "...", "error": {"code": "...", "message": "..."}}
  Ray's own messages and progress bars go to stderr, followed by one summary line.

exit status:
  0  every source was classified
  1  at least one source failed; its row says why, and the others were classified
  2  usage or configuration error (bad arguments, a bad NSFW_* value, model files
     missing, Ray not installed, an input without a url or path column), or the
     Ray job failed as a whole (e.g. a cluster node without this package)

environment:
  The NSFW_* variables configure every actor as they configure the server (limits,
  NSFW_FETCH_ALLOW_NETS, thresholds, NSFW_DECODERS decoder processes per actor,
  NSFW_BATCH_CONCURRENCY images in flight per actor); they are passed to the actors
  through Ray's runtime_env, so setting them where the command runs is enough.
  RAY_ADDRESS is Ray's own alternative to --address.
"""


def add_parser(commands, prog: str, formatter) -> argparse.ArgumentParser:
    """Add the ``bulk`` subcommand to ``nsfw``'s parser (its options live here, with the command)."""
    bulk = commands.add_parser(
        "bulk",
        prog=f"{prog} bulk",
        description=DESCRIPTION,
        epilog=OUTPUT,
        formatter_class=formatter,
    )
    bulk.add_argument("--input", required=True, metavar="SRC", help="a directory, .txt, .csv or .parquet")
    bulk.add_argument("--output", required=True, metavar="DST", help="a .parquet or .jsonl file, or a DIR/")
    bulk.add_argument("--format", choices=FORMATS, help="the output format (default: by DST's extension)")
    bulk.add_argument(
        "--address", help="a running Ray cluster (`auto`, or ray://HOST:10001); default: start one on this machine"
    )
    bulk.add_argument(
        "--concurrency",
        type=positive_int,
        help="actors, each with one loaded model (default: the cluster's CPUs / --num-cpus)",
    )
    bulk.add_argument(
        "--num-cpus", type=positive_float, default=1.0, help="CPUs Ray reserves for each actor (default: 1)"
    )
    bulk.add_argument(
        "--batch-size",
        type=positive_int,
        default=DEFAULT_BATCH_SIZE,
        help=f"sources an actor takes at a time (default: {DEFAULT_BATCH_SIZE})",
    )
    bulk.add_argument("--model", help="one of the served models (default: the first of NSFW_MODELS)")
    bulk.add_argument("--quiet", action="store_true", help="no Ray progress bars and no summary line")
    bulk.set_defaults(run=run, parser=bulk)
    return bulk


def run(args) -> int:
    """The command: check everything that can be checked here, then let Ray do the rest."""
    started = time.monotonic()
    settings = Settings.from_env()  # a bad NSFW_* value: ConfigError, exit 2 (nsfw.cli)
    if args.model is not None and args.model not in settings.models:
        args.parser.error(f"--model {args.model!r} is not served; NSFW_MODELS gives {', '.join(settings.models)}")
    # read by Ray when it is imported and started: set first (a caller's own values win)
    local = not (args.address or os.environ.get("RAY_ADDRESS"))
    for name, value in {
        **RAY_ENVIRONMENT,
        **(RAY_QUIET if args.quiet else {}),
        **(RAY_LOCAL_ONLY if local else {}),
    }.items():
        os.environ.setdefault(name, value)
    try:
        import pyarrow  # noqa: F401
        import ray.data  # noqa: F401
    except ImportError:
        args.parser.exit(EXIT_USAGE, f"{args.parser.prog}: error: Ray is not installed: {INSTALL_HINT}\n")
    try:
        output = Output.parse(args.output, args.format)
        sources = list_sources(args.input)
        _check_models(settings)
    except UsageError as exc:
        args.parser.error(str(exc))

    from ray.exceptions import RayError

    with contextlib.ExitStack() as stack:
        starting = time.monotonic()
        try:
            stack.enter_context(_ray(args.address, quiet=args.quiet))
        except UsageError as exc:
            args.parser.error(str(exc))
        ray_start = time.monotonic() - starting
        dataset = classify(
            to_dataset(sources, args.batch_size),
            model=args.model,
            batch_size=args.batch_size,
            concurrency=args.concurrency,
            num_cpus=args.num_cpus,
        )
        try:
            total, failed = output.write(dataset)
        except RayError as exc:  # not one image: the job (e.g. a node without the package, or its models)
            args.parser.exit(EXIT_USAGE, f"{args.parser.prog}: error: the Ray job failed: {exc}\n")
    if not args.quiet:
        print(
            f"{args.parser.prog}: {total} sources, {total - failed} classified, {failed} failed; "
            f"wrote {args.output} in {time.monotonic() - started:.1f} s ({ray_start:.1f} s to start Ray)",
            file=sys.stderr,
        )
    return EXIT_FAILED if failed else EXIT_OK


def _check_models(settings: Settings) -> None:
    """Missing or altered model files fail here, once, not in every actor Ray would restart."""
    from nsfw.errors import ServiceError
    from nsfw.models.registry import ModelRegistry

    try:
        ModelRegistry(settings).load_all()
    except ServiceError as exc:
        raise UsageError(str(exc)) from None


@contextlib.contextmanager
def _ray(address: str | None, quiet: bool):
    """Ray as the command needs it: joined, or started here (and shut down after) if none runs yet."""
    import ray
    from ray.data import DataContext

    DataContext.get_current().enable_progress_bars = not quiet
    if ray.is_initialized():  # a caller (a test, a notebook) set Ray up already
        yield
        return
    # "local": a new single-node Ray, even where `ray start` left one running
    address = address or os.environ.get("RAY_ADDRESS") or "local"
    try:
        ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=not quiet)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise UsageError(f"cannot start or join Ray at {address}: {exc}") from None
    try:
        yield
    finally:
        ray.shutdown()


# --- the sources --------------------------------------------------------------------------


def to_dataset(sources: list, batch_size: int = DEFAULT_BATCH_SIZE):
    """A Ray dataset of one string column, ``source``, split into blocks for the actors.

    The list was read by the driver (``list_sources``, through pyarrow, so from any
    filesystem it opens) and goes into Ray's object store in blocks: no read task then
    competes with the actors for CPUs (a read task waiting for a CPU that every actor holds
    never runs). One block goes to one actor; blocks are at least ``batch_size`` rows, and
    at most about 1,000 of them.
    """
    import pyarrow as pa
    import ray.data

    # a dataset keeps the context it was made in: rows in input order, like `nsfw classify`
    ray.data.DataContext.get_current().execution_options.preserve_order = True
    table = pa.table({SOURCE: pa.array(sources, pa.string())})
    rows = max(batch_size, -(-table.num_rows // 1000))
    blocks = [table.slice(offset, rows) for offset in range(0, table.num_rows, rows)]
    return ray.data.from_arrow(blocks)
