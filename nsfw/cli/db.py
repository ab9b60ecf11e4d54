"""``nsfw db upgrade|current|prune``: the review queue's database, from the command line.

Only ``upgrade`` creates a database (as the service's first start does with NSFW_REVIEW on and
NSFW_DB_AUTO_MIGRATE, the default for SQLite). ``current`` says where the database is, which
setting put it there, whether it exists and its revision; ``prune`` needs one to exist.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from nsfw.settings import Settings

EXIT_OK, EXIT_FAILED = 0, 1
DESCRIPTION = """\
The review queue's database (NSFW_DATABASE_URL; default a SQLite file in NSFW_DATA_DIR).
  upgrade   create the schema or migrate it to this version (NSFW_DB_AUTO_MIGRATE=1 does
            this at start-up; the default for SQLite)
  current   print where the database is (and which setting says so), whether it
            exists, and its schema's revision; creates nothing
  prune     delete what NSFW_REVIEW_RETENTION_DAYS allows no longer, and print the counts
            (the server does it at most once an hour per process)"""


def add_parser(
    commands: argparse._SubParsersAction, prog: str, formatter: type[argparse.HelpFormatter]
) -> argparse.ArgumentParser:
    db = commands.add_parser("db", prog=f"{prog} db", description=DESCRIPTION, formatter_class=formatter)
    db.add_argument("action", choices=("upgrade", "current", "prune"))
    db.set_defaults(run=run, parser=db)
    return db


def run(args: argparse.Namespace) -> int:
    from nsfw import review

    review.require()
    from sqlalchemy.exc import SQLAlchemyError

    settings = Settings.from_env()
    action = {"upgrade": _upgrade, "current": _current, "prune": _prune}[args.action]
    try:
        return action(settings, args.parser.prog)
    except (SQLAlchemyError, OSError) as exc:
        print(f"{args.parser.prog}: error: {type(exc).__name__}: {str(exc).splitlines()[0]}", file=sys.stderr)
        return EXIT_FAILED


def _upgrade(settings: Settings, prog: str) -> int:
    from nsfw.review import schema

    schema.upgrade(_url(settings))
    print(f"review database at revision {schema.current(_url(settings))}", flush=True)
    return EXIT_OK


def _current(settings: Settings, prog: str) -> int:
    """Where, why there, whether it exists, and the revision: ``key: value`` lines."""
    from nsfw.review import schema

    url = _url(settings)
    path = schema.sqlite_file(url)
    lines = {"database": schema.shown(url), "set by": schema.origin(os.environ)}
    if path is not None:
        lines["file"] = str(path)
        lines["exists"] = "yes" if path.exists() else "no (`nsfw db upgrade` creates it, as the service does at start)"
    if path is not None and not path.exists():
        lines["revision"] = "none"
    else:
        lines["revision"] = schema.current(url) or "none (an empty database: `nsfw db upgrade` creates the schema)"
    print("".join(f"{key}: {value}\n" for key, value in lines.items()), end="", flush=True)
    return EXIT_OK


def _prune(settings: Settings, prog: str) -> int:
    from nsfw.review import schema
    from nsfw.review.store import ReviewStore

    path = schema.sqlite_file(_url(settings))
    if path is not None and not path.exists():
        print(f"{prog}: error: no review database at {path} (`nsfw db current` says why there)", file=sys.stderr)
        return EXIT_FAILED
    store = ReviewStore.from_settings(settings.replace(db_auto_migrate=False), bounded=False)  # may take long
    try:
        pruned = store.prune()
    finally:
        store.close()
    print(json.dumps({"items": pruned.items, "thumbnails": pruned.thumbnails}), flush=True)
    return EXIT_OK


def _url(settings: Settings) -> str:
    """NSFW_DATABASE_URL, or the SQLite file in NSFW_DATA_DIR that Settings fills in."""
    assert settings.database_url is not None  # Settings always fills it in
    return settings.database_url
