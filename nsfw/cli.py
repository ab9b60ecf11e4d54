"""The ``nsfw`` command: classify images with the server's own core, serve the HTTP API, list models.

    nsfw photo.jpg https://example.com/image.png    # the same as `nsfw classify ...`
    nsfw serve
    nsfw models

``python -m nsfw`` is the same command. ``nsfw --help`` explains the output, the
exit codes and the environment.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from nsfw.batch.options import positive_int
from nsfw.settings import ConfigError, Settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
COMMANDS = ("classify", "serve", "models", "keygen", "bulk", "reviewer", "db")
GUNICORN_CONFIG = "python:nsfw.server.gunicorn_conf"
WSGI_APP = "nsfw:create_app()"

USAGE = """\
%(prog)s [-h] COMMAND ...
       %(prog)s SOURCE ...             (the same as `%(prog)s classify SOURCE ...`)"""

DESCRIPTION = """\
Classify images with the GantMan nsfw_model (the nsfwjs MobileNetV2), with the same
core and the same scores as the HTTP API, or run that API.

commands (`%(prog)s COMMAND --help` for each):
  classify SOURCE ...    classify image files, directories (every image in them, found
                         by its bytes), http(s) URLs, @LIST files and - (stdin), on
                         every core; the default command, so `%(prog)s photo.jpg` is
                         `%(prog)s classify photo.jpg` (for a file named like a command:
                         `%(prog)s classify serve`)
  serve                  run the HTTP API under gunicorn on 0.0.0.0:$PORT (default 8080)
                         with the project's gunicorn settings
  models                 list the served models (--all: every model in the manifest)
                         and check their files against the manifest, as the server does
  keygen NAME            print a new API key and the line to add to NSFW_API_KEYS_FILE
  bulk --input SRC --output DST
                         classify a directory or a list of files or URLs on Ray Data
                         (pip install 'nsfw-service[bulk]'), to Parquet or JSON Lines
  reviewer NAME          print a new review-queue token and the line to add to
                         NSFW_REVIEWERS_FILE
  db upgrade|current|prune
                         create or migrate the review database (NSFW_DATABASE_URL),
                         show its revision, or apply NSFW_REVIEW_RETENTION_DAYS now
"""

OUTPUT = """\
output:
  classify writes one record per image on stdout (or --output FILE), as each image is
  done: not in input order (a slow URL must not hold back the rest); each record names
  its source. JSON Lines (--format jsonl, the default), one object per line:
    {"source": "photo.jpg", "model": "mobilenet_v2", "drawings": 0.0013, "hentai": 0.0008,
     "neutral": 0.9308, "porn": 0.0629, "sexy": 0.0042, "nsfw": 0.0679, "verdict": "safe",
     "top": "neutral"}
  nsfw = porn + hentai + sexy; verdict is adult (nsfw >= NSFW_ADULT_THRESHOLD), safe
  (nsfw <= NSFW_SAFE_THRESHOLD) or unknown. An image that failed gets the error the HTTP
  API would answer ("unreadable" for a file that cannot be opened):
    {"source": "http://10.0.0.1/a.jpg", "error": {"code": "blocked_address", "message": "..."}}
  CSV (--format csv): a header, then one row per image with the columns source, model,
  the five scores, nsfw, verdict, top, error_code, error_message (empty where they do not
  apply).
  models writes one JSON line per model. stdout holds nothing but results: a progress
  bar (when stderr is a terminal) and a summary (counts per verdict, errors per code,
  images per second) go to stderr; --quiet leaves out both.

exit status:
  0    every image was classified (models: every served model's file is in order)
  1    at least one image failed (its record says why; the others were still classified),
       or a worker process died (the images it held have no record: --resume retries them)
  2    usage or configuration error: bad arguments, an unreadable @LIST, an --output that
       --resume cannot continue, a bad NSFW_* value, missing or altered model files
  130  interrupted by Ctrl-C (143: SIGTERM): the images in flight were finished and written,
       the rest were not started; run the same command with --resume to continue
"""

ENVIRONMENT = """\
environment:
  The NSFW_* variables configure the command as they configure the server: models
  (NSFW_MODELS, NSFW_MODEL_DIR, NSFW_MODEL_PATH), limits, timeouts and which networks
  URLs may reach (NSFW_FETCH_ALLOW_NETS). serve also reads PORT, WEB_CONCURRENCY,
  NSFW_THREADS, NSFW_WORKER_TIMEOUT, NSFW_GRACEFUL_TIMEOUT, the log and metrics settings
  (NSFW_LOG_FORMAT, NSFW_LOG_LEVEL, NSFW_METRICS_TOKEN...) and gunicorn's own
  GUNICORN_CMD_ARGS. The full list is the Configuration table in the README.
"""

EPILOG = f"{OUTPUT}\n{ENVIRONMENT}"
DEFAULT_DOWNLOADS = 16

CLASSIFY_DESCRIPTION = """\
Classify images on every core, with the same core and the same scores as the HTTP API.

SOURCE is an image file (any name: the bytes decide), a directory (every image under
it, recursively, found by its first bytes; symbolic links are followed only when they
stay inside it), an http(s) URL (fetched as the server fetches: private addresses
refused, NSFW_MAX_BYTES, NSFW_FETCH_TIMEOUT), @LIST (a text file of sources, one a line,
paths relative to the current directory) or - (the same, read from stdin). A file named
like that: ./@name, ./-. A path that does not exist is a failed record ("unreadable").

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


def main(argv: list[str] | None = None, prog: str = "nsfw") -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] not in (*COMMANDS, "-h", "--help"):
        argv = ["classify", *argv]  # `nsfw FILE ...`, `nsfw --quiet DIR`: the original command line
    parser = _parser(prog)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return args.run(args)
    except ConfigError as exc:
        args.parser.error(str(exc))
    except KeyboardInterrupt:
        return 130


def _parser(prog: str) -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog=prog, usage=USAGE, description=DESCRIPTION, epilog=EPILOG, formatter_class=formatter
    )
    # the commands are described in DESCRIPTION, laid out by hand
    commands = parser.add_subparsers(dest="command", help=argparse.SUPPRESS)

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
    classify.set_defaults(run=_classify, parser=classify)

    serve = commands.add_parser(
        "serve",
        prog=f"{prog} serve",
        description="Run the HTTP API under gunicorn with the project's settings (nsfw/server/gunicorn_conf.py):\n"
        "bind 0.0.0.0:$PORT, WEB_CONCURRENCY workers, each loading its models before it\n"
        "accepts requests. Exit status 2 if the configuration or the model files are wrong.",
        epilog=ENVIRONMENT,
        formatter_class=formatter,
    )
    serve.set_defaults(run=_serve, parser=serve)

    models = commands.add_parser(
        "models",
        prog=f"{prog} models",
        description="List the served models (NSFW_MODELS, then NSFW_MODEL_PATH as 'custom'), one JSON\n"
        "line each, and check each file against the manifest as the server does at start.",
        epilog=EPILOG,
        formatter_class=formatter,
    )
    models.add_argument("--all", action="store_true", help="also list the manifest's models that are not served")
    models.set_defaults(run=_models, parser=models)

    keygen = commands.add_parser(
        "keygen",
        prog=f"{prog} keygen",
        description="Print a new random API key for the client NAME, and the line to add to the file\n"
        "NSFW_API_KEYS_FILE names. The file keeps only the key's sha256, so the key is shown\n"
        "once, here: give it to the client. Clients send it as `Authorization: Bearer KEY` or\n"
        "`X-API-Key: KEY`; the server reads the file at start.",
        epilog="output (stdout, two lines):\n  key: <the key>\n  line: NAME:<sha256 of the key>\n",
        formatter_class=formatter,
    )
    keygen.add_argument("name", metavar="NAME", help="who the key is for: 1-64 of A-Z a-z 0-9 . _ @ -")
    keygen.set_defaults(run=_keygen, parser=keygen)

    reviewer = commands.add_parser(
        "reviewer",
        prog=f"{prog} reviewer",
        description="Print a new random token for the reviewer NAME, and the line to add to the file\n"
        "NSFW_REVIEWERS_FILE names (only the token's sha256 is kept there). The reviewer sends it\n"
        "as `Authorization: Bearer TOKEN` to /v1/review/*; every decision records NAME.",
        epilog="output (stdout, two lines):\n  token: <the token>\n  line: NAME:<sha256 of the token>\n",
        formatter_class=formatter,
    )
    reviewer.add_argument("name", metavar="NAME", help="who decides: 1-64 of A-Z a-z 0-9 . _ @ -")
    reviewer.set_defaults(run=_reviewer, parser=reviewer)

    db = commands.add_parser(
        "db",
        prog=f"{prog} db",
        description="The review queue's database (NSFW_DATABASE_URL; default a SQLite file in NSFW_DATA_DIR).\n"
        "  upgrade   create the schema or migrate it to this version (NSFW_DB_AUTO_MIGRATE=1 does\n"
        "            this at start-up; the default for SQLite)\n"
        "  current   print the schema's revision (nothing for an empty database)\n"
        "  prune     delete what NSFW_REVIEW_RETENTION_DAYS allows no longer, and print the counts\n"
        "            (the server does it at most once an hour per process)",
        formatter_class=formatter,
    )
    db.add_argument("action", choices=("upgrade", "current", "prune"))
    db.set_defaults(run=_db, parser=db)
    from nsfw.batch import bulk  # its options live with it; Ray itself is imported only when it runs

    bulk.add_parser(commands, prog, formatter)
    return parser


def _classify(args) -> int:
    from nsfw.batch import run

    settings = Settings.from_env()
    if args.model is not None and args.model not in settings.models:
        args.parser.error(f"--model {args.model!r} is not served; NSFW_MODELS gives {', '.join(settings.models)}")
    options = run.Options(
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
        return run.classify(settings, options)
    except run.UsageError as exc:
        args.parser.error(str(exc))


def _serve(args) -> int:
    """Check the configuration, then become gunicorn (exec: signals reach it directly)."""
    settings = Settings.from_env()
    problems = [line["error"] for line in _describe_models(settings, include_unserved=False) if "error" in line]
    if problems:
        args.parser.exit(EXIT_USAGE, "".join(f"{args.parser.prog}: error: {p}\n" for p in problems))
    command = [sys.executable, "-m", "gunicorn", "--config", GUNICORN_CONFIG, WSGI_APP]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, command)
    return EXIT_USAGE  # not reached


def _models(args) -> int:
    settings = Settings.from_env()
    lines = _describe_models(settings, include_unserved=args.all)
    for line in lines:
        print(json.dumps(line), flush=True)
    return EXIT_USAGE if any(line["served"] and "error" in line for line in lines) else EXIT_OK


def _keygen(args) -> int:
    from nsfw.protect.keys import line_for, new_key

    key = new_key()
    try:
        line = line_for(args.name, key)
    except ValueError as exc:
        args.parser.error(str(exc))
    print(f"key: {key}\nline: {line}", flush=True)
    return EXIT_OK


def _reviewer(args) -> int:
    from nsfw.protect.keys import line_for, new_key

    token = new_key()
    try:
        line = line_for(args.name, token)
    except ValueError as exc:
        args.parser.error(str(exc).replace("a key name", "a reviewer name"))
    print(f"token: {token}\nline: {line}", flush=True)
    return EXIT_OK


def _db(args) -> int:
    from nsfw import review

    review.require()
    from sqlalchemy.exc import SQLAlchemyError

    from nsfw.review import schema

    settings = Settings.from_env()
    try:
        if args.action == "upgrade":
            schema.upgrade(settings.database_url)
            print(f"review database at revision {schema.current(settings.database_url)}", flush=True)
        elif args.action == "current":
            print(schema.current(settings.database_url) or "", flush=True)
        else:
            from nsfw.review.store import ReviewStore

            store = ReviewStore.from_settings(settings.replace(db_auto_migrate=False), bounded=False)  # may take long
            try:
                pruned = store.prune()
            finally:
                store.close()
            print(json.dumps({"items": pruned.items, "thumbnails": pruned.thumbnails}), flush=True)
    except (SQLAlchemyError, OSError) as exc:
        print(f"{args.parser.prog}: error: {type(exc).__name__}: {str(exc).splitlines()[0]}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _describe_models(settings: Settings, include_unserved: bool) -> list[dict]:
    """One dict per model: what the manifest (or NSFW_MODEL_PATH) says, and whether it would load."""
    from nsfw.models.registry import CUSTOM
    from nsfw.models.runner import ModelError, ModelSpec

    model_dir = Path(settings.model_dir)
    try:
        manifest = json.loads((model_dir / "manifest.json").read_text())
        known = dict(manifest["models"])
    except (OSError, ValueError, KeyError, TypeError):
        known = {}
    names = [*settings.models, *(n for n in known if include_unserved and n not in settings.models)]
    lines = []
    for name in names:
        line = {"name": name, "served": name in settings.models, "default": name == settings.models[0]}
        if name == CUSTOM:
            path = Path(settings.model_path)
            line.update(
                description="the operator's own model (NSFW_MODEL_PATH)",
                file=str(path),
                input_size=settings.model_input_size,
                classes=list(settings.model_classes),
            )
            if not path.exists():
                line["error"] = f"NSFW_MODEL_PATH {path} does not exist"
            lines.append(line)
            continue
        entry = known.get(name, {})
        line.update(
            description=entry.get("description", ""),
            file=str(model_dir / entry.get("file", "")),
            input_size=(entry.get("input") or {}).get("size"),
            classes=entry.get("classes", []),
        )
        try:
            spec = ModelSpec.from_manifest(model_dir, name)
            spec.verify()
            line["sha256"] = spec.sha256
        except ModelError as exc:
            line["error"] = str(exc)
        except OSError as exc:
            line["error"] = f"cannot read {model_dir / entry.get('file', '')}: {exc}"
        lines.append(line)
    return lines
