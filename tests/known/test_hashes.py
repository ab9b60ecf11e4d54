"""Hash-list files: every format reads; a bad line refuses the whole file, naming the line."""

from __future__ import annotations

import pytest

from nsfw.errors import InvalidHashList
from nsfw.known import hashes
from nsfw.known.hashes import Entry

A, B, C = "a" * 64, "0123456789abcdef" * 4, "f" * 63 + "0"


def test_one_hash_a_line_with_blanks_comments_case_and_duplicates():
    text = f"# partner list\n\n{A.upper()}\n  {B}  \r\n{A}\n"
    assert hashes.read(text) == [Entry(A), Entry(B)]


def test_threatexchange_csv_with_other_columns():
    text = f"signal_type,signal,tags\npdq,{A},spam\npdq,{B},\n"
    assert [e.pdq for e in hashes.read(text)] == [A, B]


def test_hma_csv_with_a_pdq_column_and_per_row_distance_and_quality():
    text = f"content_id,pdq,distance,quality\n1,{A},12,90\n2,{B},,\n"
    assert hashes.read(text) == [Entry(A, 12, 90), Entry(B)]


def test_tsv():
    assert hashes.read(f"pdq\tdistance\n{A}\t3\n{C}\t\n") == [Entry(A, 3), Entry(C)]


def test_empty_file_is_an_empty_list():
    assert hashes.read("# nothing\n\n") == []


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (f"{A}\n{B}\nnot-a-hash\n", "line 3"),
        (f"{A}\n{B[:-1]}\n", "line 2"),  # 63 digits
        (f"{A}\n{B}0\n", "line 2"),  # 65 digits
        (f"pdq,distance\n{A},1\n{B},x\n", "line 3"),
        (f"pdq,distance\n{A},48\n", "line 2"),  # past the index's reach
        (f"pdq,quality\n{A},101\n", "line 2"),
        (f"pdq,distance\n{A}\n", "line 2"),  # a field missing
        (f"md5,tags\n{A},x\n", "line 1"),  # no pdq column
        (f"\n# c\npdq\n\n{A}\nzz\n", "line 6"),
    ],
)
def test_a_bad_line_refuses_the_file_and_is_named(text, line):
    with pytest.raises(InvalidHashList) as failed:
        hashes.read(text)
    assert failed.value.message.startswith(line + ":")
    assert failed.value.status == 400 and failed.value.code == "invalid_hash_list"


def test_write_reads_back():
    entries = [Entry(A, 12, 90), Entry(B), Entry(C, 0, None)]
    assert hashes.read("".join(hashes.write(entries))) == entries


@pytest.mark.parametrize("name", ["", "-x", "a b", "x" * 65, "ü"])
def test_bad_names(name):
    with pytest.raises(InvalidHashList):
        hashes.check_name(name)
