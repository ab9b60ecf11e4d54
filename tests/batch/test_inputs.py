"""Argument expansion (nsfw.batch.inputs): files, directories, URLs, @LIST and -, lazily."""

from __future__ import annotations

import io
import itertools

import pytest
from helpers import IMAGES

from nsfw.batch import inputs

JPEG = (IMAGES / "astronaut_640x480.jpg").read_bytes()


@pytest.fixture
def tree(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dir" / "sub").mkdir(parents=True)
    (tmp_path / "dir" / "a.jpg").write_bytes(JPEG)
    (tmp_path / "dir" / "sub" / "b.jpg").write_bytes(JPEG)
    (tmp_path / "dir" / "readme.txt").write_text("skipped: not an image")
    (tmp_path / "list.txt").write_text("one.jpg\n\n  \nhttps://example.com/x.png\r\ndir\n")
    return tmp_path


def test_every_kind_of_argument_in_order(tree):
    stdin = io.StringIO("from-stdin.jpg\nHTTP://example.com/y.jpg\n")
    got = list(inputs.expand(["file.jpg", "dir", "http://example.com/a.jpg", "@list.txt", "-", "missing"], stdin))
    assert got == [
        "file.jpg",
        "dir/a.jpg",
        "dir/sub/b.jpg",
        "http://example.com/a.jpg",
        "one.jpg",  # a list's blank lines are skipped, its directories expanded
        "https://example.com/x.png",
        "dir/a.jpg",
        "dir/sub/b.jpg",
        "from-stdin.jpg",
        "HTTP://example.com/y.jpg",
        "missing",  # not refused here: classify records it as unreadable
    ]


def test_expansion_is_lazy():
    """A million lines are never read up front."""
    endless = (f"{i}.jpg\n" for i in itertools.count())
    first = list(itertools.islice(inputs.expand(["-"], stdin=endless), 3))
    assert first == ["0.jpg", "1.jpg", "2.jpg"]


def test_urls_are_told_from_paths():
    assert inputs.is_url("http://a/b.jpg") and inputs.is_url("HTTPS://a/") and inputs.is_url("https://")
    assert not inputs.is_url("ftp://a/b.jpg") and not inputs.is_url("http.jpg") and not inputs.is_url("./http://x")


def test_an_unreadable_list_or_stdin_twice_is_a_usage_error(tree):
    inputs.check(["file.jpg", "@list.txt", "-", "missing-file.jpg"])  # a missing file is not
    with pytest.raises(inputs.InputError, match="cannot read the list @nope.txt"):
        inputs.check(["@nope.txt"])
    with pytest.raises(inputs.InputError, match="only once"):
        inputs.check(["-", "a.jpg", "-"])


def test_only_stdin_cannot_be_counted_in_advance():
    assert inputs.countable(["dir", "@list.txt", "x.jpg"])
    assert not inputs.countable(["dir", "-"])
