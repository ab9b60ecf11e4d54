"""gunicorn settings, read from the same Settings object as the service.

gthread workers let a worker download one image while it classifies another;
each worker loads its own model after the fork (post_worker_init), so the
parent never starts runtime threads a child would inherit dead.

Part of the package so that an installed ``nsfw serve`` finds it
(``-c python:nsfw.server.gunicorn_conf``); the checkout's ``gunicorn.conf.py``
re-exports it for ``gunicorn app:app``. It lives outside ``nsfw.web`` on
purpose: the gunicorn master reads it, and importing ``nsfw.web`` would load
Flask and numpy (about 40 MB and a thread) into a process that serves nothing.
"""

import os

from nsfw.settings import Settings

_settings = Settings.from_env()

bind = f"0.0.0.0:{_settings.port}"
workers = _settings.workers
worker_class = "nsfw.server.worker.Worker"  # gthread, with slow clients waited for on the poller
threads = _settings.threads
# A request is bounded by the fetch deadline; this only catches a stuck worker.
timeout = _settings.worker_timeout
graceful_timeout = 20
keepalive = 5
# The heartbeat file lives in memory: a slow disk must not make workers look dead.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
accesslog = "-"
errorlog = "-"
max_requests = 0
preload_app = False
# No runtime control socket: nothing here uses gunicornc, and its default path under
# $HOME is shared by every gunicorn on the machine (and unwritable for a user with no home).
control_socket_disable = True


def post_worker_init(worker):
    """Load and warm this worker's model before it accepts requests."""
    worker.wsgi.extensions["nsfw"].load()


def worker_exit(server, worker):
    """Close pooled upstream connections on graceful shutdown."""
    app = getattr(worker, "wsgi", None)
    if app is not None:
        app.extensions["nsfw"].close()
