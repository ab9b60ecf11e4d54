"""Review queue test helpers: a database on SQLite and on a real PostgreSQL, a store, reviewer tokens.

Fixtures are used by importing them into a test module (as with redis_helpers):
``from review_helpers import database_url, postgres_server, reviewers_file, store``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from postgres_helpers import postgres_server  # noqa: F401  (re-exported: a test module imports it with these)

from nsfw.protect.keys import line_for
from nsfw.review import schema
from nsfw.review.store import ReviewStore, Sighting

SCORES = {"drawings": 0.05, "hentai": 0.05, "neutral": 0.4, "porn": 0.3, "sexy": 0.2}
TOKENS = {"ann": "ann-token-0123456789", "bob": "bob-token-0123456789"}


def receiver_example() -> dict:
    """The webhook receiver docs/review-trust.md prints (its python block after ``<!-- receiver -->``), run
    as printed: its ``authentic`` and ``Receiver``."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "review-trust.md").read_text()
    code = text.split("<!-- receiver -->", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, "docs/review-trust.md", "exec"), namespace)  # our own documentation's example
    return namespace


def head_revision() -> str:
    """The newest migration's revision (tests do not pin it: several branches add migrations)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(schema.alembic_config("sqlite://")).get_current_head()


def sighting(n: int = 1, source: str | None = None, verdict: str = "unknown") -> Sighting:
    return Sighting(f"{n:064x}", source, "mobilenet_v2", dict(SCORES), verdict)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """An empty database: a SQLite file, or a fresh database on the module's PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'review.db'}"
    return request.getfixturevalue("postgres_server").fresh_url()


@pytest.fixture
def store(database_url):
    schema.upgrade(database_url)
    store = ReviewStore(schema.engine(database_url), max_sources=3, webhook=True)
    yield store
    store.close()


@pytest.fixture
def reviewers_file(tmp_path):
    path = tmp_path / "reviewers"
    path.write_text("# reviewers\n" + "".join(line_for(name, token) + "\n" for name, token in TOKENS.items()))
    return str(path)


def bearer(name: str = "ann") -> dict:
    return {"Authorization": f"Bearer {TOKENS[name]}"}


def sign_in_form_csrf(client, base_url: str = "http://localhost") -> str:
    """The CSRF token of the sign-in form, as a browser would have it after loading the form."""
    html = client.get("/review/sign-in", base_url=base_url).get_data(as_text=True)
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def sign_in(client, token: str, **kwargs):
    """The sign-in form as a browser sends it: fetched first (its CSRF token), then posted."""
    csrf = sign_in_form_csrf(client, kwargs.get("base_url", "http://localhost"))
    return client.post("/review/sign-in", data={"token": token, "csrf": csrf}, **kwargs)
