"""The documentation site builds strictly, its generated pages are current, and the README stays a landing page."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from doc_examples import examples, same_output

ROOT = Path(__file__).resolve().parents[2]
README_LINES = 250


def test_mkdocs_build_strict_passes(tmp_path):
    """mkdocs is a dev dependency (requirements-dev.txt): missing, this fails rather than skips."""
    mkdocs = Path(sys.executable).with_name("mkdocs")
    assert mkdocs.is_file(), "mkdocs is not installed: pip install -r requirements-dev.txt"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "site" / "configuration" / "index.html").is_file()
    shutil.rmtree(tmp_path / "site")


def test_generated_pages_are_current():
    done = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "gen_pages.py"), "--check"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr


def test_configuration_page_lists_every_variable():
    from nsfw.settings import variables

    page = (ROOT / "docs" / "configuration.md").read_text()
    names = [var.env for _, var in variables()]
    assert len(names) == len(set(names))
    assert all(f"| `{name}` |" in page for name in names)


def test_readme_is_a_landing_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= README_LINES
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", readme):  # relative links name files that exist
        assert (ROOT / target).exists(), target
    for page in re.findall(r"\]\(docs/([^)#]+\.md)", readme):
        assert page in (ROOT / "mkdocs.yml").read_text(), f"{page} is not in the site's navigation"


def test_readme_says_how_the_service_binds():
    readme = (ROOT / "README.md").read_text()
    assert "0.0.0.0:$PORT" in readme and "8080" in readme and "PORT=9000" in readme


# --- the example machinery itself ----------------------------------------------------------
@pytest.mark.parametrize(
    "shown, printed, same",
    [
        ('{"a": 1.0, "b": "x"}', '{"b":"x","a":1.0000004}\n', True),  # JSON parsed, floats to 1e-6
        ('{"a": 1.0}', '{"a": 1.01}', False),
        ('{"id": "...", "a": 1}', '{"id": "7f3e", "a": 1}', True),  # "..." matches any value
        ('{"id": "..."}', '{"id": 1, "extra": 2}', False),  # but keys must be the same
        ("one\n...\nfour", "one\ntwo\nthree\nfour\n", True),  # a line ... stands for lines
        ("one\n...", "one", True),
        ("RateLimit-Remaining: ...", "RateLimit-Remaining: 19\r", True),  # ... within a line
        ("exit status 1", "exit status 2", False),
        ('{"a":\n  [1, 2]}', '{"a": [1, 2]}', True),  # one JSON document over several lines
    ],
)
def test_output_comparison(shown, printed, same):
    assert same_output(shown, printed) is same


def test_marks_are_read(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- runnable: serve: server --flag -->\n"
        "<!-- runnable -->\n```console\n$ echo a \\\n  b\na b\n$ true\n```\n"
        "<!-- runnable: serve -->\n```sh\ngunicorn app:app\n```\n"
        "```sh\nnot marked\n```\n"
    )
    found = examples(page, "page.md")
    assert [(e.kind, e.line) for e in found] == [("serve", 1), ("console", 2), ("serve", 9)]
    assert found[1].commands == (("echo a \\\n  b", "a b"), ("true", ""))
    assert found[0].commands == (("server --flag", ""),)
