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

import atexit
import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path

from nsfw.settings import ConfigError, Settings

try:
    _settings = Settings.from_env()
except ConfigError as exc:  # one line, not gunicorn's "Failed to read config file" and a traceback
    print(f"not starting: {exc}", file=sys.stderr, flush=True)
    sys.exit(1)  # SystemExit passes through gunicorn's loader, which catches only Exception

bind = f"0.0.0.0:{_settings.port}"
workers = _settings.workers
worker_class = "nsfw.server.worker.Worker"  # gthread, with slow clients waited for on the poller
threads = _settings.threads
# A request is bounded by the fetch deadline; this only catches a stuck worker.
timeout = _settings.worker_timeout
# On SIGTERM gunicorn stops accepting and gives requests in progress this long to finish
# (NSFW_GRACEFUL_TIMEOUT, above NSFW_REQUEST_TIMEOUT so a request admitted just before always can).
graceful_timeout = _settings.graceful_timeout
keepalive = 5
# The heartbeat file lives in memory: a slow disk must not make workers look dead.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
accesslog = "-"
errorlog = "-"
loglevel = _settings.log_level
# JSON (or NSFW_LOG_FORMAT=text) for gunicorn's lines too, and an access log without query strings.
logger_class = "nsfw.server.gunicorn_logs.Logger"
max_requests = 0
preload_app = False
# No runtime control socket: nothing here uses gunicornc, and its default path under
# $HOME is shared by every gunicorn on the machine (and unwritable for a user with no home).
control_socket_disable = True


def on_starting(server):
    """Stop at once, in one line, when the start cannot work (nsfw.server.preflight); else share a secret.

    Before any socket or file exists, so a refused start leaves nothing behind.
    """
    from nsfw.server import preflight

    reason = preflight.missing_extra(_settings) or preflight.unavailable_address(
        server.cfg.address, preflight.sockets_inherited() or server.cfg.reuse_port
    )
    if reason:
        server.log.error("not starting: %s", reason)
        if server.pidfile is not None:
            server.pidfile.unlink()
        sys.exit(preflight.EXIT_FAILED)
    # The reviewer page's session cookies (nsfw/web/review_page.py) must verify on every worker: without
    # NSFW_SECRET_KEY the workers share one made here. Sign-ins then end when the service restarts, and
    # instances behind one address need the variable set to the same value.
    if not os.environ.get("NSFW_SECRET_KEY"):
        os.environ["NSFW_SECRET_KEY"] = secrets.token_urlsafe(32)


def when_ready(server):
    """Prepare the directory every worker writes its metrics to (prometheus-client's multiprocess mode).

    ``PROMETHEUS_MULTIPROC_DIR`` when set (emptied of an earlier run's files), else a fresh
    temporary directory removed at exit. Made once the sockets are bound (a start that fails to
    bind leaves no directory behind) and before the first worker is forked and imports
    prometheus-client: the variable decides at import whether samples go to files.
    """
    from nsfw.imaging import confinement

    confinement.non_dumpable()  # the master holds the same secrets as the workers (post_fork)
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if "prometheus_client" in sys.modules and not path:  # the app was loaded in the master (preload_app)
        server.log.warning("prometheus-client was loaded before PROMETHEUS_MULTIPROC_DIR: /metrics shows one worker")
    if path:
        Path(path).mkdir(parents=True, exist_ok=True)
        for stale in Path(path).glob("*.db"):
            stale.unlink()
    else:
        path = tempfile.mkdtemp(prefix="nsfw-metrics-", dir=_settings.tmp_dir)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
        server.nsfw_metrics_tmp = path
        # on_exit is skipped when gunicorn's halt itself fails (two workers refusing to boot at once
        # raise HaltServer again while it stops them): the master's own exit still removes it.
        atexit.register(_remove_if_master, os.getpid(), path)


def _remove_if_master(master: int, path: str) -> None:
    """Workers inherit the handler through fork; only the master removes the directory."""
    if os.getpid() == master:
        shutil.rmtree(path, ignore_errors=True)


def post_fork(server, worker):
    """The worker is non-dumpable: no process of the same user (a subverted decoder among them) can read
    its environment, with the ``NSFW_*`` secrets, or its memory (see nsfw/imaging/confinement.py)."""
    from nsfw.imaging import confinement

    if not confinement.non_dumpable():
        server.log.warning("the worker could not be made non-dumpable: same-user processes can read its secrets")


def pre_fork(server, worker):
    """Give the worker its row in the table the workers balance connections by (nsfw.server.balance)."""
    from nsfw.server import balance

    balance.assign(server, worker)


def child_exit(server, worker):
    """A dead worker's gauges leave the sums (its counters stay: they count what it did), and its
    connection count leaves the balancing."""
    from nsfw.server import balance

    balance.release(worker)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    path = getattr(server, "nsfw_metrics_tmp", None)
    if path:
        shutil.rmtree(path, ignore_errors=True)


def post_worker_init(worker):
    """Load and warm this worker's model before it accepts requests."""
    from nsfw.web import current

    current.detector(worker.wsgi).load()


def worker_exit(server, worker):
    """Close pooled upstream connections on graceful shutdown."""
    app = getattr(worker, "wsgi", None)
    if app is not None:
        from nsfw.web import current

        current.detector(app).close()
