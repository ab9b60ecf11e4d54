"""``nsfw hashes``: import in every format, export, list, remove; a bad file is refused whole, exit 2."""

from __future__ import annotations

import json

from nsfw import cli

A, B = "ab" * 32, "0123456789abcdef" * 4


def run(capsys, *argv) -> tuple[int, str, str]:
    status = cli.main(["hashes", *argv])
    out = capsys.readouterr()
    return status, out.out, out.err


def test_import_export_list_remove(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("NSFW_DATA_DIR", str(tmp_path))
    plain = tmp_path / "plain.txt"
    plain.write_text(f"# list\n{A}\n{B.upper()}\n")
    tsv = tmp_path / "hma.tsv"
    tsv.write_text(f"content_id\tpdq\tdistance\n7\t{B}\t12\n")
    status, out, _ = run(capsys, "import", "takedowns", str(plain), "--action", "reject")
    assert status == 0 and json.loads(out)["count"] == 2
    assert run(capsys, "import", "allow", str(tsv), "--action", "safe")[0] == 0
    listed = [json.loads(line) for line in run(capsys, "list")[1].splitlines()]
    assert [(x["name"], x["action"], x["count"]) for x in listed] == [("allow", "safe", 1), ("takedowns", "reject", 2)]
    assert run(capsys, "export", "allow")[1] == f"pdq,distance,quality\n{B},12,\n"
    exported = tmp_path / "out.csv"
    assert run(capsys, "export", "takedowns", str(exported))[0] == 0
    assert exported.read_text() == f"pdq,distance,quality\n{A},,\n{B},,\n"

    bad = tmp_path / "bad.csv"
    bad.write_text(f"pdq,distance\n{A},3\n{B},many\n")
    status, _, err = run(capsys, "import", "takedowns", str(bad), "--action", "reject")
    assert status == 2 and "line 3: distance must be a whole number" in err
    assert json.loads(run(capsys, "list")[1].splitlines()[1])["count"] == 2  # unchanged

    assert run(capsys, "remove", "allow")[0] == 0
    status, _, err = run(capsys, "remove", "allow")
    assert status == 1 and "no hash list is named 'allow'" in err
    assert run(capsys, "import", "Bad Name", str(plain), "--action", "adult")[0] == 2
