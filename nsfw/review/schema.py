"""The review database: engines as the service needs them, and migrations run from code.

``engine(url)`` gives SQLite in WAL mode with a busy timeout (readers never wait for the writer;
several gunicorn workers writing take turns instead of failing) and foreign keys on, or a
PostgreSQL engine (``postgresql://`` means psycopg 3) with a short connect timeout, so an
unreachable server costs a request at most that long, once (see ``nsfw.breaker``). The service's
engine (``timeout`` given) bounds every statement: PostgreSQL's ``statement_timeout`` and
``lock_timeout`` (a table held by a migration or ``VACUUM FULL`` fails the query, not the worker),
SQLite's busy timeout; and its pool holds at most ``pool`` connections, with no overflow. The
migrations' engine has no statement timeout (a migration may take long).

``upgrade(url)`` is ``nsfw db upgrade`` and NSFW_DB_AUTO_MIGRATE: Alembic with its configuration
built here, so it works from an installed package with no alembic.ini in the working directory.
Workers that start together take turns (a file lock for SQLite, an advisory lock for PostgreSQL).

Only ``upgrade`` creates a SQLite file (0600, in a 0700 directory): every other engine opens an
existing file or fails as an outage does, so a typo in NSFW_DATA_DIR, or a command run from
another directory, never leaves an empty database behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url

from nsfw.extras import hint
from nsfw.settings import ConfigError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_S = 10.0
SQLITE_WAL_LIMIT_BYTES = 4 * 1024 * 1024  # the WAL is cut back to this at each checkpoint
PG_CONNECT_TIMEOUT_S = 2
_MIGRATION_LOCK_ID = 0x6E736677  # "nsfw": pg_advisory_lock's key for migrations


def normalised(url: str) -> str:
    """``postgresql://`` as psycopg 3 (SQLAlchemy's default driver for it is psycopg2, which is not used)."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def connect_args(backend: str, timeout: float | None = None) -> dict:
    """The driver's options: SQLite's busy timeout, PostgreSQL's connect timeout and, with ``timeout``
    (seconds), its statement and lock timeouts."""
    if backend == "sqlite":
        return {"timeout": SQLITE_BUSY_TIMEOUT_S if timeout is None else timeout}
    args: dict = {"connect_timeout": PG_CONNECT_TIMEOUT_S}
    if timeout is not None:
        ms = max(1, round(timeout * 1000))
        args["options"] = f"-c statement_timeout={ms} -c lock_timeout={ms}"
    return args


def _private_file(path: Path) -> None:
    """Make the SQLite database readable by this user only (0600) if it does not exist yet.

    It holds thumbnails of the images strangers sent. Made just before SQLite would create it (at the
    first connection, never earlier), with os.open's mode rather than a umask, which is the whole
    process's; SQLite gives the -wal and -shm files the database file's mode.
    """
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
    except OSError:  # it exists (its mode is the operator's), or the place is unwritable: SQLite says so
        pass


def sqlite_file(url: str) -> Path | None:
    """The file a ``sqlite:///`` URL names, made absolute; None for another database or a memory one."""
    if not normalised(url).startswith("sqlite"):
        return None
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).absolute()


def origin(env: Mapping[str, str]) -> str:
    """Which setting chose the database: its place must never be a surprise of the working directory."""
    if env.get("NSFW_DATABASE_URL", "").strip():
        return "NSFW_DATABASE_URL"
    if env.get("NSFW_DATA_DIR", "").strip():
        return "NSFW_DATA_DIR (the file nsfw.db in it)"
    return f"the default: nsfw.db in data/ of the working directory ({os.getcwd()}); set NSFW_DATA_DIR to choose"


def shown(url: str) -> str:
    """The URL as logs and ``nsfw db current`` show it: any password masked."""
    return make_url(url).render_as_string(hide_password=True)


def engine(url: str, create: bool = False, timeout: float | None = None, pool: int = 5) -> Engine:
    """An engine for ``url``; for SQLite, ``create`` makes the file (0600) if it is missing,
    otherwise a missing file fails at the first connection instead of appearing empty.
    ``timeout`` bounds each statement (None: migrations, unbounded); ``pool`` connections at most."""
    url = normalised(url)
    bounded = {"pool_size": pool, "max_overflow": 0, "pool_timeout": timeout or 30.0}
    if url.startswith("sqlite"):
        eng = _sqlite_engine(url, create, timeout, bounded)

        @event.listens_for(eng, "connect")
        def _pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")  # WAL's safe setting: durable at checkpoints
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA journal_size_limit={SQLITE_WAL_LIMIT_BYTES}")  # what a checkpoint leaves
            cursor.close()

        return eng
    return _postgres_engine(url, timeout, bounded)


def _sqlite_engine(url: str, create: bool, timeout: float | None, bounded: dict[str, Any]) -> Engine:
    busy = SQLITE_BUSY_TIMEOUT_S if timeout is None else timeout
    path = sqlite_file(url)
    if path is None:  # in memory: one connection per thread, no pool to bound
        return create_engine(url, connect_args=connect_args("sqlite", timeout))
    if create:
        with contextlib.suppress(OSError):  # an unwritable place fails at the first query, not here
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        eng = create_engine(url, connect_args=connect_args("sqlite", timeout), **bounded)
        event.listen(eng, "do_connect", lambda *_: _private_file(path))
        return eng
    return create_engine(url, creator=lambda: open_existing(path, busy), **bounded)


def open_existing(path: Path, timeout: float) -> sqlite3.Connection:
    """A connection to the SQLite file at ``path`` that never creates it (a missing file fails as an outage)."""
    location = f"file:{urllib.parse.quote(str(path))}?mode=rw"
    return sqlite3.connect(location, uri=True, timeout=timeout, check_same_thread=False)


def _postgres_engine(url: str, timeout: float | None, bounded: dict[str, Any]) -> Engine:
    try:
        import psycopg  # noqa: F401  (the postgres extra)
    except ImportError:
        raise ConfigError(
            f"NSFW_DATABASE_URL names PostgreSQL but psycopg is not installed: {hint('postgres')}"
        ) from None
    return create_engine(url, connect_args=connect_args("postgresql", timeout), **bounded)


def alembic_config(url: str, connection=None):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", normalised(url).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Create or migrate the schema to ``revision``; safe to run from several processes at once."""
    from alembic import command

    eng = engine(url, create=True)
    try:
        with _migration_lock(eng), eng.begin() as connection:
            command.upgrade(alembic_config(url, connection), revision)
    finally:
        eng.dispose()  # nothing of it may cross a fork


def current(url: str) -> str | None:
    """The schema's revision, or None for an empty (or, for SQLite, missing) database; creates nothing."""
    from alembic.runtime.migration import MigrationContext

    path = sqlite_file(url)
    if path is not None and not path.exists():
        return None
    eng = engine(url)
    try:
        with eng.connect() as connection:
            return MigrationContext.configure(
                connection, opts={"version_table": "review_alembic_version"}
            ).get_current_revision()
    finally:
        eng.dispose()


@contextlib.contextmanager
def _migration_lock(eng: Engine):
    if eng.dialect.name == "sqlite":
        database = eng.url.database
        if not database or database == ":memory:":
            yield
            return
        with open(os.open(f"{database}.migrate-lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600), "r+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return
    with eng.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
        connection.commit()
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _MIGRATION_LOCK_ID})
            connection.commit()
