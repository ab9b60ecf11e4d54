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
"""

from __future__ import annotations

import contextlib
import fcntl
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url

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


def engine(url: str, timeout: float | None = None, pool: int = 5) -> Engine:
    """The engine for ``url``; ``timeout`` bounds each statement (None: migrations, unbounded)."""
    url = normalised(url)
    bounded = {"pool_size": pool, "max_overflow": 0, "pool_timeout": timeout or 30.0}
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:":
            with contextlib.suppress(OSError):  # an unwritable place fails at the first query, not here
                Path(database).parent.mkdir(parents=True, exist_ok=True)
        in_memory = not database or database == ":memory:"
        eng = create_engine(url, connect_args=connect_args("sqlite", timeout), **({} if in_memory else bounded))

        @event.listens_for(eng, "connect")
        def _pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")  # WAL's safe setting: durable at checkpoints
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA journal_size_limit={SQLITE_WAL_LIMIT_BYTES}")  # what a checkpoint leaves
            cursor.close()

        return eng
    try:
        import psycopg  # noqa: F401  (the postgres extra)
    except ImportError:
        raise ConfigError(
            "NSFW_DATABASE_URL names PostgreSQL but psycopg is not installed: pip install 'nsfw-service[postgres]'"
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

    eng = engine(url)
    try:
        with _migration_lock(eng), eng.begin() as connection:
            command.upgrade(alembic_config(url, connection), revision)
    finally:
        eng.dispose()  # nothing of it may cross a fork


def current(url: str) -> str | None:
    """The schema's revision, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

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
        with open(f"{database}.migrate-lock", "a+b") as lock:
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
