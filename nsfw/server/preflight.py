"""What the gunicorn master checks before it binds or forks: a start that cannot work stops in one line.

Without these checks a missing extra made every worker die on import with a traceback each (gunicorn
then exits 3), and a port already in use made gunicorn retry five times, one second apart, with three
lines each, before giving up. Both now end the master at once with one line and exit status 1. Runs in
the master, so it imports nothing heavy: an extra is looked for, never imported.
"""

from __future__ import annotations

import errno
import importlib.util
import os
import socket
from collections.abc import Sequence
from pathlib import Path

from nsfw.extras import hint
from nsfw.settings import Settings

EXIT_FAILED = 1


def installed(module: str) -> bool:
    """True when ``module`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or the module blocked in sys.modules
        return False


def missing_extra(settings: Settings) -> str | None:
    """The line to stop with when the settings ask for an optional part that is not installed."""
    if settings.review != "off":
        for module in ("sqlalchemy", "alembic"):
            if not installed(module):
                return f"NSFW_REVIEW={settings.review} needs the review queue's database stack: {hint('review')}"
        if (settings.database_url or "").startswith("postgresql") and not installed("psycopg"):
            return f"NSFW_DATABASE_URL names PostgreSQL but psycopg is not installed: {hint('postgres')}"
    if settings.model_path and _needs_tensorflow(Path(settings.model_path)) and not installed("tensorflow"):
        return f"NSFW_MODEL_PATH names a Keras or SavedModel model, which needs TensorFlow: {hint('tensorflow')}"
    return None


def _needs_tensorflow(path: Path) -> bool:
    """As nsfw.models.registry decides: a SavedModel directory, or a .keras or .h5 file."""
    return path.is_dir() or path.suffix in (".keras", ".h5")


def unavailable_address(addresses: Sequence[object], inherited: bool) -> str | None:
    """The line to stop with when an address gunicorn is about to listen on cannot be bound.

    ``inherited``: the sockets come from systemd or an upgrading master (nothing to bind here).
    """
    if inherited:
        return None
    for address in addresses:
        if not isinstance(address, tuple):  # a Unix socket path or a file descriptor: gunicorn's own checks
            continue
        host, port = str(address[0]), int(address[1])
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
            try:
                probe.bind((host, port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return (
                        f"port {port} is already in use on {host or '*'}: stop what listens there, "
                        "or choose another port (PORT=8081, or gunicorn -b 127.0.0.1:8081)"
                    )
                return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


def sockets_inherited() -> bool:
    """True when gunicorn takes its listening sockets from systemd or a re-executing master."""
    return bool(os.environ.get("LISTEN_FDS") or os.environ.get("GUNICORN_FD"))
