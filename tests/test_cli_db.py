"""``nsfw db``: where the review database is, said plainly, and never an empty one made by surprise."""

from __future__ import annotations

import stat

import pytest
from alembic.script import ScriptDirectory
from helpers import IMAGES

from nsfw import cli
from nsfw.review import schema


@pytest.fixture
def env(monkeypatch, tmp_path):
    """No database setting from the caller's environment; the working directory is the test's."""
    for name in ("NSFW_DATABASE_URL", "NSFW_DATA_DIR", "NSFW_DB_AUTO_MIGRATE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def fields(out: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in out.splitlines())


def test_current_says_where_the_default_database_is_and_that_it_does_not_exist(env, tmp_path, capsys):
    assert cli.main(["db", "current"]) == cli.EXIT_OK
    shown = fields(capsys.readouterr().out)
    assert shown["file"] == str(tmp_path / "data" / "nsfw.db")
    assert shown["database"] == f"sqlite:///{tmp_path / 'data' / 'nsfw.db'}"
    assert shown["set by"].startswith("the default") and str(tmp_path) in shown["set by"]
    assert shown["set by"].endswith("set NSFW_DATA_DIR to choose")
    assert shown["exists"].startswith("no (`nsfw db upgrade` creates it")
    assert shown["revision"] == "none"
    assert list(tmp_path.iterdir()) == []  # neither the file nor its directory


def test_current_after_upgrade_names_the_setting_and_the_revision(env, tmp_path, capsys):
    data = tmp_path / "review-data"
    env.setenv("NSFW_DATA_DIR", str(data))
    assert cli.main(["db", "upgrade"]) == cli.EXIT_OK
    capsys.readouterr()
    assert cli.main(["db", "current"]) == cli.EXIT_OK
    shown = fields(capsys.readouterr().out)
    assert shown["set by"] == "NSFW_DATA_DIR (the file nsfw.db in it)"
    head = ScriptDirectory.from_config(schema.alembic_config(f"sqlite:///{data}/nsfw.db")).get_current_head()
    assert (shown["file"], shown["exists"], shown["revision"]) == (str(data / "nsfw.db"), "yes", head)


def test_upgrade_creates_the_database_and_its_companions_readable_by_the_owner_only(env, tmp_path, capsys):
    env.setenv("NSFW_DATABASE_URL", f"sqlite:///{tmp_path / 'q' / 'review.db'}")
    assert cli.main(["db", "upgrade"]) == cli.EXIT_OK
    capsys.readouterr()
    assert cli.main(["db", "current"]) == cli.EXIT_OK
    assert fields(capsys.readouterr().out)["set by"] == "NSFW_DATABASE_URL"
    made = sorted((tmp_path / "q").iterdir())
    assert "review.db" in [p.name for p in made]
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in made} == {p.name: 0o600 for p in made}


def test_an_empty_database_file_has_no_revision(env, tmp_path, capsys):
    env.setenv("NSFW_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    (tmp_path / "empty.db").touch()
    assert cli.main(["db", "current"]) == cli.EXIT_OK
    shown = fields(capsys.readouterr().out)
    assert shown["exists"] == "yes" and shown["revision"].startswith("none (an empty database")


def test_prune_without_a_database_fails_and_creates_none(env, tmp_path, capsys):
    assert cli.main(["db", "prune"]) == cli.EXIT_FAILED
    err = capsys.readouterr().err
    assert err.startswith("nsfw db: error: no review database at ") and str(tmp_path / "data" / "nsfw.db") in err
    assert list(tmp_path.iterdir()) == []


def test_a_service_that_does_not_migrate_never_creates_the_file(make_app, tmp_path):
    """With NSFW_DB_AUTO_MIGRATE off, a missing SQLite file is an outage, not a new empty database."""
    database = tmp_path / "nowhere" / "review.db"
    client = make_app(review="all", database_url=f"sqlite:///{database}", db_auto_migrate=False)
    image = (IMAGES / "chelsea.png").read_bytes()
    assert client.post("/v1/classify", data=image, content_type="image/png").status_code == 200
    assert not database.parent.exists()
