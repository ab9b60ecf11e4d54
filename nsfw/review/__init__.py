"""The review queue (issue 13): people decide the images the model could not, and the service remembers.

A stage after ``verdict``: it never imports the web layer. ``tables`` and ``schema`` (with the
Alembic migrations in ``migrations/``) hold the database; ``store.ReviewStore`` is the queue;
``reviewers`` the tokens of the people who decide; ``thumbnails`` makes the small JPEG a reviewer
sees from the model's own input; ``service.Review`` ties them to a running service (queueing in a
background thread, retention, the webhook of ``webhook``).
"""

from nsfw.extras import hint
from nsfw.settings import ConfigError

#: The largest item id: a signed 64-bit integer, what both databases' keys can hold. A larger id in a
#: URL names no item (404), rather than overflowing the driver (a 500 on SQLite, a 503 on PostgreSQL).
MAX_ITEM_ID = 2**63 - 1
#: The URL rule of an item id: a path with a larger one matches no route.
ITEM_ID_RULE = f"<int(min=1, max={MAX_ITEM_ID}):item_id>"

#: What to install for the queue: the serving install leaves its database stack out (about 35 MB).
EXTRA = f"the review queue (NSFW_REVIEW, nsfw db) needs SQLAlchemy and Alembic: {hint('review')}"

try:
    from sqlalchemy.exc import SQLAlchemyError as DatabaseError
except ImportError:  # without the extra there is no database, so nothing can raise it

    class DatabaseError(Exception):  # type: ignore[no-redef]
        """Stands in for SQLAlchemyError where the review extra is not installed; never raised."""


def require() -> None:
    """ConfigError naming the extra when the queue is asked for without SQLAlchemy and Alembic."""
    try:
        import alembic  # noqa: F401
        import sqlalchemy  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"{EXTRA} ({exc.name} is not installed)") from None
