"""``nsfw keygen`` and ``nsfw reviewer``: a secret written to a file is readable by its owner alone."""

from __future__ import annotations

import os
import stat

import pytest

from nsfw import cli
from nsfw.protect.keys import load


@pytest.fixture
def loose_umask():
    """The most permissive umask: a file made by open() then chmod-ed would be visible in between."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize(("command", "secret"), [("keygen", "key"), ("reviewer", "token")])
def test_output_writes_the_secret_0600_and_add_to_appends_the_line_0600(tmp_path, capsys, loose_umask, command, secret):
    out, keys = tmp_path / "ann.txt", tmp_path / "keys"
    assert cli.main([command, "ann", "-o", str(out), "--add-to", str(keys)]) == cli.EXIT_OK
    captured = capsys.readouterr()
    assert captured.out == ""  # the secret went to the file, not the terminal
    assert f"wrote the {secret} for ann to {out} (0600)" in captured.err
    written = out.read_text().splitlines()
    assert written[0].startswith(f"{secret}: ") and written[1].startswith("line: ann:")
    assert (mode(out), mode(keys)) == (0o600, 0o600)
    assert keys.read_text() == written[1].removeprefix("line: ") + "\n"
    assert load(str(keys)).name_of(written[0].split(": ", 1)[1]) == "ann"  # the server accepts it


def test_add_to_appends_to_an_existing_file_keeping_its_lines_and_mode(tmp_path, capsys):
    keys = tmp_path / "keys"
    keys.write_text("bob:" + "0" * 64)  # no final newline
    keys.chmod(0o640)
    assert cli.main(["keygen", "ann", "--add-to", str(keys)]) == cli.EXIT_OK
    key = capsys.readouterr().out.splitlines()[0].removeprefix("key: ")
    lines = keys.read_text().splitlines()
    assert lines[0] == "bob:" + "0" * 64 and lines[1].startswith("ann:") and len(lines) == 2
    assert mode(keys) == 0o640
    assert load(str(keys)).name_of(key) == "ann"


def test_output_never_overwrites_a_file(tmp_path, capsys):
    out = tmp_path / "ann.txt"
    out.write_text("key: an earlier one\n")
    with pytest.raises(SystemExit) as exited:
        cli.main(["reviewer", "ann", "-o", str(out)])
    assert exited.value.code == cli.EXIT_USAGE
    assert f"{out}: File exists" in capsys.readouterr().err
    assert out.read_text() == "key: an earlier one\n"


def test_without_options_the_two_lines_go_to_stdout_as_before(capsys):
    assert cli.main(["reviewer", "ann"]) == cli.EXIT_OK
    token, line = capsys.readouterr().out.splitlines()
    assert token.startswith("token: ") and line.startswith("line: ann:")


def test_a_bad_name_is_a_usage_error_naming_the_reviewer(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["reviewer", "ann smith"])
    assert exited.value.code == cli.EXIT_USAGE
    assert "a reviewer name is 1-64" in capsys.readouterr().err
