"""The ``nsfw`` command: classify images with the server's own core, serve the HTTP API, list models.

    nsfw photo.jpg https://example.com/image.png    # the same as `nsfw classify ...`
    nsfw serve
    nsfw models

``python -m nsfw`` is the same command. ``nsfw --help`` explains the output, the
exit codes and the environment. Each command's parser lives beside its run function,
one module per group (classify, serve and models, keygen and reviewer, db, hashes; bulk in
nsfw/batch/bulk.py); this module only assembles them and maps errors to exit codes.
"""

from __future__ import annotations

import argparse
import sys

from nsfw.cli import classify, db, hashes, serve, tokens
from nsfw.cli.texts import DESCRIPTION, EPILOG, USAGE
from nsfw.settings import ConfigError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
COMMANDS = ("classify", "serve", "models", "keygen", "bulk", "reviewer", "db", "hashes")


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
        code: int = args.run(args)
        return code
    except ConfigError as exc:
        command: argparse.ArgumentParser = args.parser
        command.error(str(exc))
    except KeyboardInterrupt:
        return 130


def _parser(prog: str) -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog=prog, usage=USAGE, description=DESCRIPTION, epilog=EPILOG, formatter_class=formatter
    )
    # the commands are described in DESCRIPTION, laid out by hand
    commands = parser.add_subparsers(dest="command", help=argparse.SUPPRESS)
    classify.add_parser(commands, prog, formatter)
    serve.add_parsers(commands, prog, formatter)
    tokens.add_parsers(commands, prog, formatter)
    db.add_parser(commands, prog, formatter)
    hashes.add_parser(commands, prog, formatter)
    from nsfw.batch import bulk  # its options live with it; Ray itself is imported only when it runs

    bulk.add_parser(commands, prog, formatter)
    return parser
