"""``nsfw hashes``: manage the hash lists in the review database (NSFW_DATABASE_URL).

    nsfw hashes import NAME FILE --action adult|safe|reject   # create NAME, or replace it whole
    nsfw hashes export NAME [FILE]                            # CSV (pdq,distance,quality); - or none: stdout
    nsfw hashes list                                          # one JSON line per list
    nsfw hashes remove NAME

An import reads and checks the whole file first (a bad line: exit 2 naming it, nothing changed),
then writes it in one transaction. Running services see the change within NSFW_MATCH_REFRESH_S.
"""

from __future__ import annotations

import argparse
import json
import sys

from nsfw.errors import HashListNotFound, InvalidHashList
from nsfw.settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DESCRIPTION = """\
Hash lists (known content): named lists of PDQ hashes in the review database, each with an action.
  import NAME FILE --action A   create list NAME, or replace its action and every hash. FILE (or -
                                for stdin): one hex hash a line, or CSV/TSV with a pdq column (and
                                optional distance, quality), as ThreatExchange and HMA export them
  export NAME [FILE]            write the list as CSV (pdq,distance,quality), to FILE or stdout
  list                          one JSON line per list: name, action, count, updated_at
  remove NAME                   delete the list
Actions: adult and safe set the verdict; reject answers 403 listed_content without classifying."""


def add_parser(commands, prog: str, formatter) -> argparse.ArgumentParser:
    """Add ``hashes`` to ``nsfw``'s parser."""
    parser = commands.add_parser("hashes", prog=f"{prog} hashes", description=DESCRIPTION, formatter_class=formatter)
    actions = parser.add_subparsers(dest="hashes_command", required=True, metavar="{import,export,list,remove}")
    load = actions.add_parser("import", prog=f"{prog} hashes import")
    load.add_argument("name")
    load.add_argument("file", help="the file, or - for stdin")
    load.add_argument("--action", required=True, choices=("adult", "safe", "reject"))
    out = actions.add_parser("export", prog=f"{prog} hashes export")
    out.add_argument("name")
    out.add_argument("file", nargs="?", default="-")
    actions.add_parser("list", prog=f"{prog} hashes list")
    remove = actions.add_parser("remove", prog=f"{prog} hashes remove")
    remove.add_argument("name")
    parser.set_defaults(run=run, parser=parser)
    return parser


def run(args) -> int:
    from nsfw import review

    review.require()
    from sqlalchemy.exc import SQLAlchemyError

    from nsfw.review import schema
    from nsfw.review.hashlists import HashLists

    settings = Settings.from_env()
    url = settings.database_url
    assert url is not None  # Settings fills in the default
    if settings.db_auto_migrate:
        schema.upgrade(url)
    engine = schema.engine(url)
    try:
        return _run(args, HashLists(engine))
    except (InvalidHashList, HashListNotFound) as exc:
        print(f"{args.parser.prog}: error: {exc.message}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, InvalidHashList) else EXIT_FAILED
    except (SQLAlchemyError, OSError) as exc:
        print(f"{args.parser.prog}: error: {type(exc).__name__}: {str(exc).splitlines()[0]}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        engine.dispose()


def _run(args, lists) -> int:
    from nsfw.known import hashes

    command = args.hashes_command
    if command == "import":
        hashes.check_name(args.name)
        text = _read(args.file)
        info = lists.replace(args.name, args.action, hashes.read(text))
        print(json.dumps(info.to_dict()), flush=True)
    elif command == "export":
        lists.get(args.name)
        out = sys.stdout if args.file == "-" else open(args.file, "w", encoding="utf-8")  # noqa: SIM115
        try:
            out.writelines(hashes.write(lists.entries(args.name)))
        finally:
            if out is not sys.stdout:
                out.close()
    elif command == "list":
        for info in lists.lists():
            print(json.dumps(info.to_dict()), flush=True)
    else:
        lists.remove(args.name)
    return EXIT_OK


def _read(path: str) -> str:
    if path == "-":
        raw = sys.stdin.buffer.read()
    else:
        with open(path, "rb") as fh:
            raw = fh.read()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidHashList(f"{path}: not UTF-8 text") from None
