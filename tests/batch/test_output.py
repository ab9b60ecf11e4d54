"""Writers, --resume and the summary (nsfw.batch.output)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from nsfw.batch import output, records

OK = {
    "source": "a.jpg",
    "model": "mobilenet_v2",
    "drawings": 0.1,
    "hentai": 0.0,
    "neutral": 0.9,
    "porn": 0.0,
    "sexy": 0.0,
    "nsfw": 0.0,
    "verdict": "safe",
    "top": "neutral",
}
FAILED = records.failure('multi\nline, "quoted".jpg', "unsupported_media", "not an image,\nat all")


def write(path, fmt, batch, header=True):
    with open(path, "a", newline="") as fh:
        output.Writer(fh, fmt, header=header).write(batch)


def test_jsonl_is_one_record_a_line():
    stream = io.StringIO()
    output.Writer(stream, "jsonl").write([OK, FAILED])
    assert [json.loads(line) for line in stream.getvalue().splitlines()] == [OK, FAILED]


def test_csv_has_the_shared_columns_and_flat_rows():
    stream = io.StringIO()
    output.Writer(stream, "csv").write([OK, FAILED])
    rows = list(csv.DictReader(io.StringIO(stream.getvalue())))
    assert tuple(rows[0]) == records.COLUMNS
    assert rows[0]["verdict"] == "safe" and rows[0]["error_code"] == ""
    assert rows[1]["source"] == FAILED["source"] and rows[1]["error_code"] == "unsupported_media"


@pytest.mark.parametrize("fmt", output.FORMATS)
def test_resume_of_a_missing_or_empty_file_starts_afresh(tmp_path, fmt):
    assert output.resume(str(tmp_path / "none"), fmt) == set()
    (tmp_path / "empty").write_bytes(b"")
    assert output.resume(str(tmp_path / "empty"), fmt) == set()


@pytest.mark.parametrize("fmt", output.FORMATS)
def test_resume_keeps_complete_records_and_cuts_a_last_one_cut_short(tmp_path, fmt):
    path = tmp_path / f"out.{fmt}"
    write(path, fmt, [OK, FAILED])
    whole = path.read_bytes()
    write(path, fmt, [{**OK, "source": "b.jpg"}], header=False)
    killed = path.read_bytes()[: len(whole) + 25]  # a run killed while writing b.jpg
    path.write_bytes(killed)
    assert output.resume(str(path), fmt) == {"a.jpg", FAILED["source"]}
    assert path.read_bytes() == whole  # ready to append to


def test_resume_of_a_csv_killed_inside_a_quoted_newline(tmp_path):
    path = tmp_path / "out.csv"
    write(path, "csv", [OK])
    whole = path.read_bytes()
    write(path, "csv", [FAILED], header=False)
    path.write_bytes(path.read_bytes()[: len(whole) + 8])  # ends after "multi\n", inside the quotes
    assert output.resume(str(path), "csv") == {"a.jpg"}
    assert path.read_bytes() == whole


def test_resume_of_a_csv_killed_before_its_header_was_whole(tmp_path):
    path = tmp_path / "out.csv"
    path.write_text("source,model,dra")
    assert output.resume(str(path), "csv") == set()
    assert path.read_bytes() == b""


@pytest.mark.parametrize(
    ("fmt", "text"),
    [
        ("jsonl", "not json\n"),
        ("jsonl", '{"no_source": 1}\n'),
        ("jsonl", "[1, 2]\n"),
        ("csv", "name,score\nx,1\n"),
        ("csv", ",".join(records.COLUMNS) + "\nonly,three,fields\n"),
    ],
)
def test_resume_refuses_a_file_that_is_not_an_output_of_this_format(tmp_path, fmt, text):
    path = tmp_path / "other"
    path.write_text(text)
    with pytest.raises(output.OutputError):
        output.resume(str(path), fmt)
    assert path.read_text() == text  # untouched


def test_summary_counts_verdicts_and_errors():
    summary = output.Summary()
    for record in (OK, {**OK, "verdict": "adult"}, OK, FAILED, records.failure("x", "unreadable", "gone")):
        summary.add(record)
    summary.skipped = 4
    text = summary.text()
    assert text.startswith("5 images in ")
    assert "images/s" in text
    assert "classified: 3 (safe 2, unknown 0, adult 1)" in text
    assert "failed: 2 (unreadable 1, unsupported_media 1)" in text
    assert "skipped: 4" in text
    assert "interrupted by SIGINT" in summary.text("SIGINT")


def test_progress_is_only_for_a_terminal_and_never_when_quiet():
    assert not output.Progress.wanted(quiet=False, stream=io.StringIO())
    assert not output.Progress(False).enabled
