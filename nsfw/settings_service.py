"""The settings of the service around the image path: server, protection, observability, review queue.

Each section is a frozen dataclass whose fields are declared once each with ``var(...)`` (see
nsfw/envvars.py); :class:`nsfw.settings.Settings` inherits them all, in the Configuration page's
order. Declarations are written by hand, one a variable; ruff leaves them as written.
"""

from __future__ import annotations

import dataclasses

from nsfw.cpus import cpu_count
from nsfw.envvars import Flag, Network, Networks, Number, Ports, Text, var, var_factory
from nsfw.settings_images import NUM


@dataclasses.dataclass(frozen=True)
class Server:
    """The server (read by nsfw/server/gunicorn_conf.py and nsfw/server/worker.py)."""

    # fmt: off
    port: int = var(
        "PORT", 8080, Number(int, low=1, high=65535), "port gunicorn binds on `0.0.0.0`")
    workers: int = var_factory(
        "WEB_CONCURRENCY", cpu_count, NUM,
        "gunicorn worker processes (each loads its own models, about 100 MB); the CPU quota is read from the "
        "cgroup (`cpu.max`, or v1 `cpu.cfs_quota_us`) and rounded up, so a container limited to 1 CPU on a "
        "64-core host starts 1 worker, not 64",
        shown="number of CPUs, capped by the container's CPU quota")
    threads: int = var(
        "NSFW_THREADS", 32, NUM,
        "gunicorn threads per worker: they mostly wait (downloads, decoders); the limits, not this, bound the "
        "CPU work")
    worker_timeout: int = var(
        "NSFW_WORKER_TIMEOUT", 30, NUM, "seconds before gunicorn replaces a stuck worker")
    # slow clients (read by nsfw.server.worker): a request head must arrive whole within
    # header_timeout of the connection being ready; a body may go silent for body_timeout
    header_timeout: float = var(
        "NSFW_HEADER_TIMEOUT", 10.0, Number(float, low=0.1),
        "seconds a client has to send a whole request head; then `408 request_timeout` and the connection is "
        "closed")
    body_timeout: float = var(
        "NSFW_BODY_TIMEOUT", 5.0, Number(float, low=0.1),
        "longest silence while a client sends a body (or reads a response); then `408 request_timeout`")
    # fmt: on


@dataclasses.dataclass(frozen=True)
class Protection:
    """Protection (nsfw/protect): API keys, rate limits, and the result cache shared in Redis."""

    # fmt: off
    api_keys_file: str | None = var(
        "NSFW_API_KEYS_FILE", None, Text(),
        "file of `name:sha256-hex` lines (`nsfw keygen NAME` prints one); set, every route but the open ones "
        "needs a key (`401 unauthorized`); empty, access is open and each worker logs one warning")
    rate_limit: str | None = var(
        "NSFW_RATE_LIMIT", None, Text(strip=True),
        "images allowed per key (or per client address without keys), e.g. `600/minute;20/second`; a 16-image "
        "batch spends 16; over it `429 rate_limited`; empty: no limit")
    rate_limit_storage: str = var(
        "NSFW_RATE_LIMIT_STORAGE", "memory://", Text(strip=True),
        "where limits are counted: `memory://` (each worker alone) or `redis://host:port/db` (every worker and "
        "instance together)")
    rate_limit_fail: str = var(
        "NSFW_RATE_LIMIT_FAIL", "open", Text(strip=True, lower=True, choices=("open", "closed")),
        "when that Redis does not answer: `open` serves on, each worker counting in its own memory until Redis "
        "is back; `closed` refuses limited requests with `503 rate_limit_unavailable`")
    trusted_proxies: tuple[Network, ...] = var(
        "NSFW_TRUSTED_PROXIES", (), Networks(),
        "comma-separated CIDRs of your reverse proxies: only from them is `X-Forwarded-For` believed, for the "
        "client address rate limits count by")
    cache_url: str | None = var(
        "NSFW_CACHE_URL", None, Text(strip=True),
        "`redis://host:port/db`: results also kept in this Redis, shared by every worker and instance; an "
        "outage only turns the sharing off")
    cache_ttl: int = var(
        "NSFW_CACHE_TTL", 7 * 24 * 3600, NUM, "seconds a result stays in that Redis (7 days)")
    # fmt: on


@dataclasses.dataclass(frozen=True)
class Observability:
    """Observability (nsfw/observe): logs and metrics; graceful shutdown (nsfw/server)."""

    # fmt: off
    graceful_timeout: int | None = var(
        "NSFW_GRACEFUL_TIMEOUT", None, NUM,
        "seconds gunicorn gives requests in progress to finish after SIGTERM (gunicorn's `graceful_timeout`); "
        "must be above `NSFW_REQUEST_TIMEOUT`", shown="`NSFW_REQUEST_TIMEOUT` + 5 (`20`)")
    log_format: str = var(
        "NSFW_LOG_FORMAT", "json", Text(strip=True, lower=True, choices=("json", "text")),
        "`json`: one JSON object per line; `text`: the same fields as a human line, for local use")
    log_level: str = var(
        "NSFW_LOG_LEVEL", "info",
        Text(strip=True, lower=True, choices=("debug", "info", "warning", "error", "critical")),
        "for the app's lines and gunicorn's; `warning` drops the per-request lines")
    log_full_urls: bool = var(
        "NSFW_LOG_FULL_URLS", False, Flag(),
        "`1` logs the URLs to classify with their query strings; by default only `scheme://host/path` (query "
        "strings can carry secrets)")
    metrics_token: str | None = var(
        "NSFW_METRICS_TOKEN", None, Text(),
        "when set, `GET /metrics` needs `Authorization: Bearer <this>` (compared in constant time)")
    # fmt: on


@dataclasses.dataclass(frozen=True)
class Review:
    """The review queue (nsfw/review): people decide what the model could not; the service remembers.

    Also known content (nsfw/known) and the reviewer page's cookie key, which only the queue uses.
    """

    # fmt: off
    review: str = var(
        "NSFW_REVIEW", "off", Text(strip=True, lower=True, choices=("off", "unknown", "all")),
        "the review queue: `unknown` queues images whose verdict is `unknown`, `all` every image; `off` queues "
        "nothing and looks nothing up")
    data_dir: str = var(
        "NSFW_DATA_DIR", "data", Text(strip=True),
        "where the default SQLite database (`nsfw.db`) is created", shown="`data` (in the working directory)")
    database_url: str | None = var(
        "NSFW_DATABASE_URL", None, Text(strip=True),
        "the review database: `sqlite:///path` or `postgresql://user@host/db` (psycopg 3: the `postgres` "
        "extra) to share it between instances", shown="`sqlite:///$NSFW_DATA_DIR/nsfw.db`")
    db_auto_migrate: bool | None = var(
        "NSFW_DB_AUTO_MIGRATE", None, Flag(),
        "create or migrate the schema when a worker starts (`nsfw db upgrade` does it by hand)",
        shown="`1` for SQLite, `0` otherwise")
    review_retention_days: float = var(
        "NSFW_REVIEW_RETENTION_DAYS", 30.0, Number(float, low=0.0),
        "days after an image was queued when its thumbnail, and the item unless decided, are deleted")
    review_keep_decided_thumbnails: bool = var(
        "NSFW_REVIEW_KEEP_DECIDED_THUMBNAILS", False, Flag(),
        "`1` keeps a decided item's thumbnail past the retention")
    review_max_sources: int = var(
        "NSFW_REVIEW_MAX_SOURCES", 10, Number(int, low=0), "URLs kept per item (the first ones seen)")
    review_max_items: int = var(
        "NSFW_REVIEW_MAX_ITEMS", 100_000, Number(int, low=0),
        "items the review store keeps at most; past it the oldest undecided ones go first "
        "(`nsfw_review_events_total{event=\"capped_items\"}`); `0`: no cap")
    review_keep_url_queries: bool = var(
        "NSFW_REVIEW_KEEP_URL_QUERIES", False, Flag(),
        "`1` stores and shows an item's source URLs whole; by default without query strings and fragments "
        "(they can carry secrets)")
    reviewers_file: str | None = var(
        "NSFW_REVIEWERS_FILE", None, Text(),
        "file of `name:sha256-hex` lines (`nsfw reviewer NAME` prints one): who may use `/v1/review/*`; empty: "
        "nobody may decide")
    review_webhook_url: str | None = var(
        "NSFW_REVIEW_WEBHOOK_URL", None, Text(strip=True),
        "`http(s)://` URL that receives a signed `POST` for each decision")
    review_webhook_secret: str | None = var(
        "NSFW_REVIEW_WEBHOOK_SECRET", None, Text(),
        "HMAC-SHA256 key of the webhook's `X-NSFW-Signature`; required with the URL")
    review_webhook_attempts: int = var(
        "NSFW_REVIEW_WEBHOOK_ATTEMPTS", 10, NUM, "attempts per delivery before it is dropped")
    review_webhook_backoff: float = var(
        "NSFW_REVIEW_WEBHOOK_BACKOFF", 2.0, Number(float, low=0.0),
        "seconds before the first retry; doubled for each next one, at most an hour")
    review_lookup_timeout: float = var(
        "NSFW_REVIEW_LOOKUP_TIMEOUT", 0.25, Number(float, low=0.01, high=5.0),
        "seconds a classification's decision lookup may cost; past it (or with the database stalled) the "
        "model's verdict stands")
    review_db_timeout: float = var(
        "NSFW_REVIEW_DB_TIMEOUT", 3.0, Number(float, low=0.1),
        "statement (PostgreSQL) and busy (SQLite) timeout of every other review query; under half of "
        "`NSFW_REQUEST_TIMEOUT`")
    review_db_pool: int = var(
        "NSFW_REVIEW_DB_POOL", 4, Number(int, low=1, high=64),
        "review database connections per worker, for lookups and for the rest each; never more")
    webhook_allow_nets: tuple[Network, ...] = var(
        "NSFW_WEBHOOK_ALLOW_NETS", (), Networks(),
        "CIDRs the review webhook's receiver may be on besides public ones; image URLs never use them")
    webhook_allow_ports: frozenset[int] = var(
        "NSFW_WEBHOOK_ALLOW_PORTS", frozenset({80, 443}), Ports(), "ports the review webhook's receiver may listen on")
    # known content (nsfw/known, nsfw/review/known.py): decisions follow near-duplicates; hash lists
    match_distance: int = var(
        "NSFW_MATCH_DISTANCE", 31, Number(int, low=0, high=47),
        "PDQ bits within which an image matches a decided review item or a hash-list entry (see Known content)")
    match_refresh_s: float = var(
        "NSFW_MATCH_REFRESH_S", 5.0, Number(float, low=0.05, high=10.0),
        "seconds between each worker's checks of the database for new decisions and list changes")
    # reviewer page (nsfw/web/review/pages.py): the key that signs reviewers' session cookies
    # None: the gunicorn master makes one for its workers; never in a repr (a log line, a traceback)
    secret_key: str | None = var(
        "NSFW_SECRET_KEY", None, Text(),
        "signs the reviewer page's session cookies (at least 32 characters); instances behind one address must "
        "share one", shown="made by the gunicorn master at start", repr=False)
    # fmt: on
