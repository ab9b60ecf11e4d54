"""``nsfw db upgrade|current|prune``: the review queue's database, from the command line."""

from __future__ import annotations

import argparse
import json
import sys

from nsfw.settings import Settings

EXIT_OK, EXIT_FAILED = 0, 1
DESCRIPTION = """\
The review queue's database (NSFW_DATABASE_URL; default a SQLite file in NSFW_DATA_DIR).
  upgrade   create the schema or migrate it to this version (NSFW_DB_AUTO_MIGRATE=1 does
            this at start-up; the default for SQLite)
  current   print the schema's revision (nothing for an empty database)
  prune     delete what NSFW_REVIEW_RETENTION_DAYS allows no longer, and print the counts
            (the server does it at most once an hour per process)"""


def add_parser(commands: argparse._SubParsersAction, prog: str, formatter: type) -> argparse.ArgumentParser:
    db = commands.add_parser("db", prog=f"{prog} db", description=DESCRIPTION, formatter_class=formatter)
    db.add_argument("action", choices=("upgrade", "current", "prune"))
    db.set_defaults(run=run, parser=db)
    return db


def run(args: argparse.Namespace) -> int:
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

            store = ReviewStore.from_settings(settings.replace(db_auto_migrate=False))
            try:
                pruned = store.prune()
            finally:
                store.close()
            print(json.dumps({"items": pruned.items, "thumbnails": pruned.thumbnails}), flush=True)
    except (SQLAlchemyError, OSError) as exc:
        print(f"{args.parser.prog}: error: {type(exc).__name__}: {str(exc).splitlines()[0]}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
