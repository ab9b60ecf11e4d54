"""``nsfw keygen NAME`` and ``nsfw reviewer NAME``: a new secret, and the digest line for the server's file.

The secret is shown once. Where it is written to a file (``--output``) that file is created
0600 by ``os.open`` (never created open and narrowed afterwards, and never overwritten: it
may hold another secret); ``--add-to`` appends the digest line to the server's file, created
0600 too when it does not exist yet.
"""

from __future__ import annotations

import argparse
import os
import sys

EXIT_OK, EXIT_USAGE = 0, 2
KINDS = {
    # command: (what the secret is called, the server's file, who it is for)
    "keygen": ("key", "NSFW_API_KEYS_FILE", "a key name"),
    "reviewer": ("token", "NSFW_REVIEWERS_FILE", "a reviewer name"),
}
KEYGEN_DESCRIPTION = """\
Print a new random API key for the client NAME, and the line to add to the file
NSFW_API_KEYS_FILE names. The file keeps only the key's sha256, so the key is shown
once, here: give it to the client. Clients send it as `Authorization: Bearer KEY` or
`X-API-Key: KEY`; the server reads the file at start."""
REVIEWER_DESCRIPTION = """\
Print a new random token for the reviewer NAME, and the line to add to the file
NSFW_REVIEWERS_FILE names (only the token's sha256 is kept there). The reviewer sends it
as `Authorization: Bearer TOKEN` to /v1/review/*; every decision records NAME."""
FILES = """
  -o FILE writes these two lines to FILE instead, created readable by you alone (0600);
  an existing FILE is never overwritten. --add-to KEYS appends the line to KEYS (the
  server's file), creating it 0600 if it does not exist."""


def add_parsers(commands: argparse._SubParsersAction, prog: str, formatter: type[argparse.HelpFormatter]) -> None:
    for command, description, who in (
        ("keygen", KEYGEN_DESCRIPTION, "who the key is for"),
        ("reviewer", REVIEWER_DESCRIPTION, "who decides"),
    ):
        secret, variable, _ = KINDS[command]
        parser = commands.add_parser(
            command,
            prog=f"{prog} {command}",
            description=description,
            epilog=f"output (stdout, two lines):\n  {secret}: <the {secret}>\n  line: NAME:<sha256 of the {secret}>\n"
            + FILES,
            formatter_class=formatter,
        )
        parser.add_argument("name", metavar="NAME", help=f"{who}: 1-64 of A-Z a-z 0-9 . _ @ -")
        parser.add_argument("-o", "--output", metavar="FILE", help=f"write the {secret} to FILE (0600), not stdout")
        parser.add_argument("--add-to", metavar="KEYS", help=f"append the line to KEYS, the file {variable} names")
        parser.set_defaults(run=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    from nsfw.protect.keys import line_for, new_key

    secret_word, _, name_word = KINDS[args.command]
    secret = new_key()
    try:
        line = line_for(args.name, secret)
    except ValueError as exc:
        args.parser.error(str(exc).replace("a key name", name_word))
    text = f"{secret_word}: {secret}\nline: {line}\n"
    try:
        if args.output:
            write_private(args.output, text, append=False)
        else:
            sys.stdout.write(text)
            sys.stdout.flush()
        if args.add_to:
            write_private(args.add_to, line + "\n", append=True)
    except OSError as exc:
        args.parser.exit(EXIT_USAGE, f"{args.parser.prog}: error: {exc.filename}: {exc.strerror or exc}\n")
    if args.output:
        print(f"{args.parser.prog}: wrote the {secret_word} for {args.name} to {args.output} (0600)", file=sys.stderr)
    return EXIT_OK


def write_private(path: str, text: str, append: bool) -> None:
    """Write ``text`` to ``path``, a file created 0600 at once; ``append``: add to an existing one
    (its mode is kept, a missing last newline supplied), else refuse to replace one (FileExistsError)."""
    flags = (os.O_RDWR | os.O_APPEND) if append else (os.O_WRONLY | os.O_EXCL)
    fd = os.open(path, flags | os.O_CREAT | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        size = os.fstat(fd).st_size
        if append and size and os.pread(fd, 1, size - 1) != b"\n":
            text = "\n" + text
        fh.write(text)
