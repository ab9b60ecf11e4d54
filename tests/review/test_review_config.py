"""Review settings, the `nsfw db` and `nsfw reviewer` commands, reviewer tokens and thumbnails."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from alembic.script import ScriptDirectory
from helpers import IMAGES
from PIL import Image
from prometheus_client import REGISTRY

from nsfw import cli
from nsfw.imaging.preprocess import to_model_input
from nsfw.protect.keys import digest
from nsfw.review import reviewers, schema, thumbnails, writer
from nsfw.settings import ConfigError, Settings

PNG = (IMAGES / "chelsea.png").read_bytes()


def test_review_defaults_off_with_a_sqlite_file_in_the_data_dir_migrated_at_start(tmp_path):
    s = Settings.from_env({"NSFW_DATA_DIR": str(tmp_path)})
    assert s.review == "off"
    assert s.database_url == f"sqlite:///{tmp_path / 'nsfw.db'}" and s.db_auto_migrate is True
    assert (s.review_retention_days, s.review_keep_decided_thumbnails, s.review_max_sources) == (30.0, False, 10)
    assert s.reviewers_file is None and s.review_webhook_url is None


def test_review_values_from_environment(tmp_path):
    s = Settings.from_env(
        {
            "NSFW_REVIEW": "Unknown",
            "NSFW_DATABASE_URL": "postgresql+psycopg://u@db.internal/nsfw",
            "NSFW_REVIEW_RETENTION_DAYS": "7.5",
            "NSFW_REVIEW_KEEP_DECIDED_THUMBNAILS": "1",
            "NSFW_REVIEW_MAX_SOURCES": "3",
            "NSFW_REVIEWERS_FILE": "/etc/nsfw/reviewers",
            "NSFW_REVIEW_WEBHOOK_URL": "https://hooks.example/nsfw",
            "NSFW_REVIEW_WEBHOOK_SECRET": "s3cret",
            "NSFW_REVIEW_WEBHOOK_ATTEMPTS": "4",
            "NSFW_REVIEW_WEBHOOK_BACKOFF": "0.5",
        }
    )
    assert s.review == "unknown" and s.db_auto_migrate is False  # a shared server is migrated on purpose
    assert (s.review_retention_days, s.review_keep_decided_thumbnails, s.review_max_sources) == (7.5, True, 3)
    assert (s.review_webhook_attempts, s.review_webhook_backoff) == (4, 0.5)
    assert Settings.from_env({"NSFW_DB_AUTO_MIGRATE": "0"}).db_auto_migrate is False


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"NSFW_REVIEW": "some"}, "NSFW_REVIEW"),
        ({"NSFW_DATABASE_URL": "mysql://db/nsfw"}, "NSFW_DATABASE_URL"),
        ({"NSFW_DB_AUTO_MIGRATE": "maybe"}, "NSFW_DB_AUTO_MIGRATE"),
        ({"NSFW_REVIEW_RETENTION_DAYS": "-1"}, "NSFW_REVIEW_RETENTION_DAYS"),
        ({"NSFW_REVIEW_WEBHOOK_URL": "ftp://x/y", "NSFW_REVIEW_WEBHOOK_SECRET": "s"}, "NSFW_REVIEW_WEBHOOK_URL"),
        ({"NSFW_REVIEW_WEBHOOK_URL": "https://x/y"}, "NSFW_REVIEW_WEBHOOK_SECRET"),
        ({"NSFW_REVIEW_WEBHOOK_ATTEMPTS": "0"}, "NSFW_REVIEW_WEBHOOK_ATTEMPTS"),
    ],
)
def test_bad_review_values_name_the_variable(env, name):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env(env)


def test_postgresql_urls_mean_psycopg_3():
    assert schema.normalised("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert schema.normalised("sqlite:///x.db") == "sqlite:///x.db"


def test_nsfw_reviewer_prints_a_token_and_the_line_for_the_reviewers_file(capsys, tmp_path):
    assert cli.main(["reviewer", "ann"]) == cli.EXIT_OK
    token, line = (row.split(": ", 1)[1] for row in capsys.readouterr().out.splitlines())
    assert line == f"ann:{digest(token)}"
    path = tmp_path / "reviewers"
    path.write_text(line + "\n")
    assert reviewers.Reviewers(reviewers.load(str(path))).authenticate(token) == "ann"
    assert reviewers.Reviewers(reviewers.load(str(path))).authenticate(token + "x") is None
    with pytest.raises(SystemExit):
        cli.main(["reviewer", "not a name"])


def test_a_reviewers_file_with_a_pasted_token_stops_start_up_without_echoing_it(tmp_path):
    path = tmp_path / "reviewers"
    path.write_text("ann:the-token-itself\n")
    with pytest.raises(ConfigError, match="line 1") as raised:
        reviewers.load(str(path))
    assert "the-token-itself" not in str(raised.value)
    assert reviewers.Reviewers(None).authenticate("anything") is None


def test_nsfw_db_upgrade_current_and_prune(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("NSFW_DATA_DIR", str(tmp_path))
    assert cli.main(["db", "current"]) == cli.EXIT_OK
    assert capsys.readouterr().out.endswith(
        "exists: no (`nsfw db upgrade` creates it, as the service does at start)\nrevision: none\n"
    )
    head = ScriptDirectory.from_config(schema.alembic_config(f"sqlite:///{tmp_path}/x.db")).get_current_head()
    assert cli.main(["db", "upgrade"]) == cli.EXIT_OK
    assert head in capsys.readouterr().out
    assert cli.main(["db", "current"]) == cli.EXIT_OK
    assert capsys.readouterr().out.endswith(f"exists: yes\nrevision: {head}\n")
    assert cli.main(["db", "prune"]) == cli.EXIT_OK
    assert json.loads(capsys.readouterr().out) == {"items": 0, "thumbnails": 0}


def test_nsfw_db_names_a_database_it_cannot_reach(capsys, monkeypatch):
    monkeypatch.setenv("NSFW_DATABASE_URL", "sqlite:////proc/nsfw-review/review.db")
    assert cli.main(["db", "upgrade"]) == cli.EXIT_FAILED
    err = capsys.readouterr().err
    assert err.startswith("nsfw db: error: ") and "/proc/nsfw-review/review.db" in err


def test_the_thumbnail_is_the_model_input_with_the_pictures_proportions():
    rgb = np.zeros((300, 600, 3), np.uint8)
    rgb[:, :300] = (250, 20, 20)  # left half red, right half blue
    rgb[:, 300:] = (20, 20, 250)
    jpeg = thumbnails.from_model_input(to_model_input(rgb, 224), width=600, height=300)
    image = Image.open(io.BytesIO(jpeg))
    assert image.format == "JPEG" and image.size == (160, 80)
    left, right = image.getpixel((20, 40)), image.getpixel((140, 40))
    assert left[0] > 200 > left[2] and right[2] > 200 > right[0]


def test_a_full_buffer_drops_sightings_and_never_blocks_a_classification(make_app, tmp_path, monkeypatch):
    monkeypatch.setattr(writer.SightingWriter, "start", lambda self: None)  # no writer: the buffer only fills
    monkeypatch.setattr(writer, "BUFFER", 1)
    client = make_app(review="all", database_url=f"sqlite:///{tmp_path / 'r.db'}", db_auto_migrate=True)
    before = REGISTRY.get_sample_value("nsfw_review_events_total", {"event": "dropped"}) or 0
    for _ in range(3):
        assert client.post("/v1/classify", data=PNG, content_type="image/png").status_code == 200
    assert REGISTRY.get_sample_value("nsfw_review_events_total", {"event": "dropped"}) == before + 2


WITHOUT_EXTRA = """
import sys
sys.modules["sqlalchemy"] = sys.modules["alembic"] = None  # as if the 'review' extra were not installed
import json
from pathlib import Path
from nsfw import cli
from nsfw.settings import ConfigError, Settings
from nsfw.web import create_app

data = Path(sys.argv[1])
client = create_app(Settings().replace(data_dir=str(data))).test_client()
image = (Path(sys.argv[2]) / "chelsea.png").read_bytes()
answers = {
    "health": client.get("/health").status_code,
    "predict": client.post("/predict", data=image, content_type="image/png").status_code,
    "review": client.get("/v1/review/items", headers={"Authorization": "Bearer x"}).get_json()["error"]["code"],
}
try:
    create_app(Settings().replace(data_dir=str(data), review="unknown"))
except ConfigError as exc:
    answers["review_on"] = str(exc)
try:
    cli.main(["db", "upgrade"])
except SystemExit as exc:
    answers["db"] = exc.code
answers["files"] = sorted(p.name for p in data.iterdir())
print(json.dumps(answers))
"""


def test_the_serving_install_runs_without_the_review_extra_and_says_what_turning_review_on_needs(tmp_path):
    """SQLAlchemy and Alembic are the 'review' extra: review off must not need them, review on must name them."""
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRA, str(tmp_path), str(IMAGES)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NSFW_DATA_DIR": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    answers = json.loads(done.stdout.strip().splitlines()[-1])
    assert (answers["health"], answers["predict"], answers["review"]) == (200, 200, "review_disabled")
    assert "pip install '.[review]'" in answers["review_on"]
    assert answers["db"] == 2 and "pip install '.[review]'" in done.stderr
    assert answers["files"] == []  # no database file was made


def test_metrics_count_the_backlog_and_say_when_the_database_is_down(make_app, tmp_path):
    """nsfw_review_pending and nsfw_dependency_up{dependency="review_database"}, read at each scrape."""
    from nsfw.web import current

    def up() -> float | None:
        return REGISTRY.get_sample_value("nsfw_dependency_up", {"dependency": "review_database"})

    client = make_app(review="all", database_url=f"sqlite:///{tmp_path / 'r.db'}", db_auto_migrate=True)
    assert client.post("/v1/classify", data=PNG, content_type="image/png").status_code == 200
    current.review_or_none(client.application).flush()
    assert client.get("/metrics").status_code == 200
    assert REGISTRY.get_sample_value("nsfw_review_pending") == 1 and up() == 1
    (tmp_path / "garbage.db").write_bytes(b"not a database" * 100)
    down = make_app(review="all", database_url=f"sqlite:///{tmp_path / 'garbage.db'}", db_auto_migrate=True)
    assert down.get("/metrics").status_code == 200  # the scrape answers; the database's state is in it
    assert up() == 0
