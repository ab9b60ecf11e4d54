"""The one place configuration is read.

Everything the service can be told comes from environment variables with the
``NSFW_`` prefix (plus ``PORT`` and ``WEB_CONCURRENCY``, which hosting
platforms set). They are read once into a frozen :class:`Settings`; every other
module receives that object instead of looking at the environment itself.
A bad value stops start-up with a message naming the variable, rather than
surfacing later as a confusing failure on some request.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
from collections.abc import Mapping
from pathlib import Path

MiB = 1024 * 1024
REPO_ROOT = Path(__file__).resolve().parent.parent
# An installed wheel carries the shipped models inside the package (see pyproject.toml);
# a checkout (or an editable install) has them in the repo's model/ directory.
PACKAGED_MODEL_DIR = Path(__file__).resolve().parent / "_model"
REPO_MODEL_DIR = REPO_ROOT / "model"


def default_model_dir() -> Path:
    """Where the shipped models are when NSFW_MODEL_DIR is not set."""
    if (PACKAGED_MODEL_DIR / "manifest.json").is_file():
        return PACKAGED_MODEL_DIR
    return REPO_MODEL_DIR


# What a decoder process needs before it holds any pixels (interpreter, numpy, Pillow, heap
# slack), and what one pixel costs at the peak of a JPEG or PNG decode: Pillow's 4-byte RGBX
# image plus the 3-byte RGB array made from it strip by strip, and allocator slack (measured
# 8.2 bytes per pixel at 10 MP with the base included; see README "Security").
DECODER_BASE_MB = 64
BYTES_PER_PIXEL = 8.0


def pixels_for_memory(memory_mb: int) -> int:
    """The pixel cap a decoder memory budget allows: the default NSFW_MAX_PIXELS."""
    return int((memory_mb - DECODER_BASE_MB) * MiB / BYTES_PER_PIXEL)


REDIS_SCHEMES = ("redis://", "rediss://", "unix://")  # what redis-py reads (NSFW_CACHE_URL)
DATABASE_SCHEMES = ("sqlite://", "postgresql://", "postgresql+psycopg://")  # NSFW_DATABASE_URL (review queue)
LIMIT_STORAGE_SCHEMES = ("memory://", "redis://", "rediss://", "redis+unix://")  # what the limits library reads


class ConfigError(ValueError):
    """An environment variable holds a value the service cannot use."""


def _cpu_count(cgroup_root: str = "/sys/fs/cgroup") -> int:
    """CPUs this process may use: its affinity, capped by the container's CPU quota (cgroup).

    A container limited to 1 CPU on a 64-core host sees 64 CPUs in its affinity; sizing
    WEB_CONCURRENCY from that starts 64 workers of about 100 MB each. The quota is the
    limit that counts, rounded up (1.5 CPUs run 2 workers).
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_quota(cgroup_root)
    return max(1, min(cpus, math.ceil(quota))) if quota else cpus


def cgroup_cpu_quota(root: str = "/sys/fs/cgroup") -> float | None:
    """The CPU quota in CPUs from cgroup v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us``; None when unlimited."""

    def read(*parts):
        try:
            with open(os.path.join(root, *parts)) as fh:
                return fh.read().split()
        except (OSError, UnicodeDecodeError):
            return None

    try:
        v2 = read("cpu.max")  # "max 100000" or "150000 100000"
        if v2 is not None:
            quota, period = (v2 + ["100000"])[:2]
            return None if quota == "max" else int(quota) / int(period)
        for directory in ("cpu,cpuacct", "cpu"):  # v1, as the controller is mounted
            quota, period = read(directory, "cpu.cfs_quota_us"), read(directory, "cpu.cfs_period_us")
            if quota and period:
                return None if int(quota[0]) <= 0 else int(quota[0]) / int(period[0])
    except (ValueError, ZeroDivisionError):
        return None
    return None


@dataclasses.dataclass(frozen=True)
class Settings:
    # fetching
    fetch_timeout: float = 10.0
    max_bytes: int = 10 * MiB
    fetch_allow_nets: tuple = ()
    fetch_allow_ports: frozenset = frozenset({80, 443})
    max_redirects: int = 3
    user_agent: str = "nsfw-service/1.0 (+image classifier)"
    spool_bytes: int = 1 * MiB
    tmp_dir: str | None = None
    # decoding (in sandboxed decoder processes, see nsfw/imaging/sandbox.py)
    max_pixels: int | None = None  # None: derived from decode_memory_mb
    max_frames: int = 8
    decode_cpu_s: float = 2.0
    decode_memory_mb: int = 448
    decoders: int = 2
    # fast decoding of large photos (nsfw/imaging/decode.py): JPEGs decoded at a reduced DCT
    # scale that still covers the model's input; not bit-exact with nsfwjs, so off by default
    fast_decode: bool = False
    # models
    model_dir: Path = dataclasses.field(default_factory=default_model_dir)
    models: tuple = ("mobilenet_v2",)
    model_path: str | None = None
    model_classes: tuple = ("drawings", "hentai", "neutral", "porn", "sexy")
    model_input_size: int | None = None
    inference_threads: int = 1
    interpreters: int = 1
    # results
    adult_threshold: float = 0.8
    safe_threshold: float = 0.2
    cache_size: int = 4096
    max_batch: int = 16
    batch_concurrency: int = 4
    max_request_bytes: int = 32 * MiB
    # admission control
    request_timeout: float = 15.0
    queue_depth: int = 32
    max_downloads: int = 64
    # server (read by nsfw/server/gunicorn_conf.py)
    port: int = 8080
    workers: int = dataclasses.field(default_factory=_cpu_count)
    threads: int = 32
    worker_timeout: int = 30
    # slow clients (read by nsfw.server.worker): a request head must arrive whole within
    # header_timeout of the connection being ready; a body may go silent for body_timeout
    header_timeout: float = 10.0
    body_timeout: float = 5.0
    # protection (nsfw/protect): API keys, rate limits, and the result cache shared in Redis
    api_keys_file: str | None = None  # name:sha256-hex lines; None: open access
    rate_limit: str | None = None  # in images, e.g. "600/minute;20/second"; None: no limit
    rate_limit_storage: str = "memory://"  # or redis://host:port/db, shared by every instance
    rate_limit_fail: str = "open"  # when that Redis is unreachable: "open" (count per process) or "closed" (503)
    trusted_proxies: tuple = ()  # networks whose X-Forwarded-For names the client
    cache_url: str | None = None  # redis://host:port/db: results shared by every instance
    cache_ttl: int = 7 * 24 * 3600  # seconds a result stays in that Redis
    # observability (nsfw/observe): logs and metrics; graceful shutdown (nsfw/server)
    graceful_timeout: int | None = None  # None: NSFW_REQUEST_TIMEOUT + 5 s, rounded up
    log_format: str = "json"  # json | text
    log_level: str = "info"
    log_full_urls: bool = False
    metrics_token: str | None = None
    # video (nsfw/imaging/video.py, the `video` extra): decoded in the same decoder processes
    max_video_bytes: int = 32 * MiB  # a video download or upload; images keep NSFW_MAX_BYTES
    video_frames: int = 16  # frames classified, spread over the duration
    video_stop_at_adult: bool = False  # stop at the first frame whose nsfw score reaches NSFW_ADULT_THRESHOLD
    video_max_duration_s: float = 600.0
    video_max_pixels: int = 3840 * 2160  # per frame
    video_max_decoded_frames: int = 3000
    video_cpu_s: float = 8.0
    # review queue (nsfw/review): people decide what the model could not; the service remembers
    review: str = "off"  # off | unknown | all: which classified images are queued
    data_dir: str = "data"  # where the default SQLite database lives
    database_url: str | None = None  # None: sqlite:///<data_dir>/nsfw.db
    db_auto_migrate: bool | None = None  # None: on for SQLite, off for a shared server
    review_retention_days: float = 30.0
    review_keep_decided_thumbnails: bool = False
    review_max_sources: int = 10
    review_max_items: int = 100_000  # items kept at most; past it the oldest undecided go (0: no cap)
    review_keep_url_queries: bool = False  # keep source URLs whole (query strings can carry secrets)
    reviewers_file: str | None = None  # name:sha256-hex lines, as NSFW_API_KEYS_FILE
    review_webhook_url: str | None = None
    review_webhook_secret: str | None = None
    review_webhook_attempts: int = 10
    review_webhook_backoff: float = 2.0  # seconds before the first retry, doubled for each next one
    review_lookup_timeout: float = 0.25  # seconds a classification's decision lookup may cost; then the model decides
    review_db_timeout: float = 3.0  # statement (PostgreSQL) and busy (SQLite) timeout of every other review query
    review_db_pool: int = 4  # database connections per worker, for lookups and for the rest each; never more
    # reviewer page (nsfw/web/review_page.py): the key that signs reviewers' session cookies
    # None: the gunicorn master makes one for its workers; never in a repr (a log line, a traceback)
    secret_key: str | None = dataclasses.field(default=None, repr=False)

    def __post_init__(self):
        if self.max_pixels is None:
            object.__setattr__(self, "max_pixels", pixels_for_memory(self.decode_memory_mb))
        if self.max_pixels < 1:
            raise ConfigError(
                f"NSFW_DECODE_MEMORY_MB={self.decode_memory_mb} leaves no memory for pixels "
                f"(at least {DECODER_BASE_MB + 1} is needed)"
            )
        if not self.request_timeout < self.worker_timeout:
            raise ConfigError("NSFW_REQUEST_TIMEOUT must be below NSFW_WORKER_TIMEOUT")
        if not self.safe_threshold < self.adult_threshold:
            raise ConfigError("NSFW_SAFE_THRESHOLD must be below NSFW_ADULT_THRESHOLD")
        if self.graceful_timeout is None:
            object.__setattr__(self, "graceful_timeout", math.ceil(self.request_timeout) + 5)
        if not self.request_timeout < self.graceful_timeout:
            raise ConfigError("NSFW_GRACEFUL_TIMEOUT must be above NSFW_REQUEST_TIMEOUT")
        if self.log_format not in ("json", "text"):
            raise ConfigError(f"NSFW_LOG_FORMAT={self.log_format!r} must be json or text")
        if self.log_level not in ("debug", "info", "warning", "error", "critical"):
            raise ConfigError(f"NSFW_LOG_LEVEL={self.log_level!r} must be debug, info, warning, error or critical")
        if not self.models:
            raise ConfigError("NSFW_MODELS names no model")
        if "custom" in self.models and not self.model_path:
            raise ConfigError("NSFW_MODELS names 'custom' but NSFW_MODEL_PATH is not set")
        if self.model_path and "custom" not in self.models:
            object.__setattr__(self, "models", (*self.models, "custom"))
        self._check_protection()
        self._check_review()

    def _check_review(self):
        if self.review not in ("off", "unknown", "all"):
            raise ConfigError(f"NSFW_REVIEW={self.review!r} must be off, unknown or all")
        if self.database_url is None:
            path = Path(self.data_dir).expanduser().absolute() / "nsfw.db"
            object.__setattr__(self, "database_url", f"sqlite:///{path}")
        if not self.database_url.startswith(DATABASE_SCHEMES):
            raise ConfigError("NSFW_DATABASE_URL must be a sqlite:/// or postgresql+psycopg:// URL")
        if self.db_auto_migrate is None:
            object.__setattr__(self, "db_auto_migrate", self.database_url.startswith("sqlite"))
        if not self.review_db_timeout * 2 < self.request_timeout:
            # a reviewer's request may wait for a pooled connection, then run its statement: both inside the deadline
            raise ConfigError("NSFW_REVIEW_DB_TIMEOUT must be under half of NSFW_REQUEST_TIMEOUT")
        if self.review_webhook_url is not None:
            if not self.review_webhook_url.startswith(("http://", "https://")):
                raise ConfigError("NSFW_REVIEW_WEBHOOK_URL must be an http:// or https:// URL")
            if not self.review_webhook_secret:
                raise ConfigError("NSFW_REVIEW_WEBHOOK_URL is set but NSFW_REVIEW_WEBHOOK_SECRET is not")
        if self.secret_key is not None and len(self.secret_key) < 32:
            raise ConfigError("NSFW_SECRET_KEY must be at least 32 characters (e.g. nsfw keygen's key)")

    def _check_protection(self):
        if self.rate_limit is not None:
            from limits import parse_many  # only when limits are asked for

            try:
                parse_many(self.rate_limit)
            except ValueError:
                raise ConfigError(
                    f"NSFW_RATE_LIMIT={self.rate_limit!r} is not a rate limit such as 600/minute;20/second"
                ) from None
        if not self.rate_limit_storage.startswith(LIMIT_STORAGE_SCHEMES):
            raise ConfigError("NSFW_RATE_LIMIT_STORAGE must be memory:// or a redis:// (rediss://, redis+unix://) URL")
        if self.rate_limit_fail not in ("open", "closed"):
            raise ConfigError(f"NSFW_RATE_LIMIT_FAIL={self.rate_limit_fail!r} is neither open nor closed")
        if self.cache_url is not None and not self.cache_url.startswith(REDIS_SCHEMES):
            raise ConfigError("NSFW_CACHE_URL must be a redis:// (or rediss://, unix://) URL")

    def replace(self, **changes) -> Settings:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        read = _Reader(env)
        defaults = cls()
        return cls(
            fetch_timeout=read.number("NSFW_FETCH_TIMEOUT", defaults.fetch_timeout, float, low=0.1),
            max_bytes=read.number("NSFW_MAX_BYTES", defaults.max_bytes, int, low=1),
            fetch_allow_nets=read.networks("NSFW_FETCH_ALLOW_NETS"),
            fetch_allow_ports=read.ports("NSFW_FETCH_ALLOW_PORTS", defaults.fetch_allow_ports),
            max_redirects=read.number("NSFW_MAX_REDIRECTS", defaults.max_redirects, int, low=0),
            user_agent=env.get("NSFW_USER_AGENT", defaults.user_agent),
            spool_bytes=read.number("NSFW_SPOOL_BYTES", defaults.spool_bytes, int, low=1),
            tmp_dir=env.get("NSFW_TMP_DIR") or None,
            max_pixels=read.number("NSFW_MAX_PIXELS", None, int, low=1),
            max_frames=read.number("NSFW_MAX_FRAMES", defaults.max_frames, int, low=1, high=64),
            decode_cpu_s=read.number("NSFW_DECODE_CPU_S", defaults.decode_cpu_s, float, low=0.05),
            decode_memory_mb=read.number("NSFW_DECODE_MEMORY_MB", defaults.decode_memory_mb, int, low=1),
            decoders=read.number("NSFW_DECODERS", defaults.decoders, int, low=1, high=64),
            # fast decoding of large photos
            fast_decode=read.flag("NSFW_FAST_DECODE"),
            model_dir=Path(env.get("NSFW_MODEL_DIR") or defaults.model_dir),
            models=read.names("NSFW_MODELS", defaults.models),
            model_path=env.get("NSFW_MODEL_PATH") or None,
            model_classes=read.names("NSFW_MODEL_CLASSES", defaults.model_classes),
            model_input_size=read.number("NSFW_MODEL_INPUT_SIZE", None, int, low=1),
            inference_threads=read.number("NSFW_INFERENCE_THREADS", defaults.inference_threads, int, low=1),
            interpreters=read.number("NSFW_INTERPRETERS", defaults.interpreters, int, low=1),
            adult_threshold=read.number("NSFW_ADULT_THRESHOLD", defaults.adult_threshold, float, low=0.0, high=1.0),
            safe_threshold=read.number("NSFW_SAFE_THRESHOLD", defaults.safe_threshold, float, low=0.0, high=1.0),
            cache_size=read.number("NSFW_CACHE_SIZE", defaults.cache_size, int, low=0),
            max_batch=read.number("NSFW_MAX_BATCH", defaults.max_batch, int, low=1),
            batch_concurrency=read.number("NSFW_BATCH_CONCURRENCY", defaults.batch_concurrency, int, low=1),
            max_request_bytes=read.number("NSFW_MAX_REQUEST_BYTES", defaults.max_request_bytes, int, low=1),
            request_timeout=read.number("NSFW_REQUEST_TIMEOUT", defaults.request_timeout, float, low=0.5),
            queue_depth=read.number("NSFW_QUEUE_DEPTH", defaults.queue_depth, int, low=0),
            max_downloads=read.number("NSFW_MAX_DOWNLOADS", defaults.max_downloads, int, low=1),
            port=read.number("PORT", defaults.port, int, low=1, high=65535),
            workers=read.number("WEB_CONCURRENCY", defaults.workers, int, low=1),
            threads=read.number("NSFW_THREADS", defaults.threads, int, low=1),
            worker_timeout=read.number("NSFW_WORKER_TIMEOUT", defaults.worker_timeout, int, low=1),
            header_timeout=read.number("NSFW_HEADER_TIMEOUT", defaults.header_timeout, float, low=0.1),
            body_timeout=read.number("NSFW_BODY_TIMEOUT", defaults.body_timeout, float, low=0.1),
            # protection
            api_keys_file=env.get("NSFW_API_KEYS_FILE") or None,
            rate_limit=env.get("NSFW_RATE_LIMIT", "").strip() or None,
            rate_limit_storage=env.get("NSFW_RATE_LIMIT_STORAGE", "").strip() or defaults.rate_limit_storage,
            rate_limit_fail=env.get("NSFW_RATE_LIMIT_FAIL", "").strip().lower() or defaults.rate_limit_fail,
            trusted_proxies=read.networks("NSFW_TRUSTED_PROXIES"),
            cache_url=env.get("NSFW_CACHE_URL", "").strip() or None,
            cache_ttl=read.number("NSFW_CACHE_TTL", defaults.cache_ttl, int, low=1),
            # observability; graceful shutdown
            graceful_timeout=read.number("NSFW_GRACEFUL_TIMEOUT", None, int, low=1),
            log_format=env.get("NSFW_LOG_FORMAT", "").strip().lower() or defaults.log_format,
            log_level=env.get("NSFW_LOG_LEVEL", "").strip().lower() or defaults.log_level,
            log_full_urls=read.flag("NSFW_LOG_FULL_URLS"),
            metrics_token=env.get("NSFW_METRICS_TOKEN") or None,
            # video
            max_video_bytes=read.number("NSFW_MAX_VIDEO_BYTES", defaults.max_video_bytes, int, low=1),
            video_frames=read.number("NSFW_VIDEO_FRAMES", defaults.video_frames, int, low=1, high=256),
            video_stop_at_adult=read.flag("NSFW_VIDEO_STOP_AT_ADULT"),
            video_max_duration_s=read.number(
                "NSFW_VIDEO_MAX_DURATION_S", defaults.video_max_duration_s, float, low=0.1
            ),
            video_max_pixels=read.number("NSFW_VIDEO_MAX_PIXELS", defaults.video_max_pixels, int, low=1),
            video_max_decoded_frames=read.number(
                "NSFW_VIDEO_MAX_DECODED_FRAMES", defaults.video_max_decoded_frames, int, low=1
            ),
            video_cpu_s=read.number("NSFW_VIDEO_CPU_S", defaults.video_cpu_s, float, low=0.05),
            # review queue
            review=env.get("NSFW_REVIEW", "").strip().lower() or defaults.review,
            data_dir=env.get("NSFW_DATA_DIR", "").strip() or defaults.data_dir,
            database_url=env.get("NSFW_DATABASE_URL", "").strip() or None,
            db_auto_migrate=read.flag("NSFW_DB_AUTO_MIGRATE") if env.get("NSFW_DB_AUTO_MIGRATE", "").strip() else None,
            review_retention_days=read.number(
                "NSFW_REVIEW_RETENTION_DAYS", defaults.review_retention_days, float, low=0.0
            ),
            review_keep_decided_thumbnails=read.flag("NSFW_REVIEW_KEEP_DECIDED_THUMBNAILS"),
            review_max_sources=read.number("NSFW_REVIEW_MAX_SOURCES", defaults.review_max_sources, int, low=0),
            review_max_items=read.number("NSFW_REVIEW_MAX_ITEMS", defaults.review_max_items, int, low=0),
            review_keep_url_queries=read.flag("NSFW_REVIEW_KEEP_URL_QUERIES"),
            reviewers_file=env.get("NSFW_REVIEWERS_FILE") or None,
            review_webhook_url=env.get("NSFW_REVIEW_WEBHOOK_URL", "").strip() or None,
            review_webhook_secret=env.get("NSFW_REVIEW_WEBHOOK_SECRET") or None,
            review_webhook_attempts=read.number(
                "NSFW_REVIEW_WEBHOOK_ATTEMPTS", defaults.review_webhook_attempts, int, low=1
            ),
            review_webhook_backoff=read.number(
                "NSFW_REVIEW_WEBHOOK_BACKOFF", defaults.review_webhook_backoff, float, low=0.0
            ),
            review_lookup_timeout=read.number(
                "NSFW_REVIEW_LOOKUP_TIMEOUT", defaults.review_lookup_timeout, float, low=0.01, high=5.0
            ),
            review_db_timeout=read.number("NSFW_REVIEW_DB_TIMEOUT", defaults.review_db_timeout, float, low=0.1),
            review_db_pool=read.number("NSFW_REVIEW_DB_POOL", defaults.review_db_pool, int, low=1, high=64),
            # reviewer page
            secret_key=env.get("NSFW_SECRET_KEY") or None,
        )


class _Reader:
    def __init__(self, env: Mapping[str, str]):
        self.env = env

    def number(self, name, default, kind, low=None, high=None):
        raw = self.env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = kind(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not a valid {kind.__name__}") from None
        if value != value or (low is not None and value < low) or (high is not None and value > high):
            raise ConfigError(f"{name}={raw!r} is out of range [{low}, {high}]")
        return value

    def flag(self, name):
        raw = self.env.get(name, "").strip().lower()
        if raw in ("", "0", "false", "no", "off"):
            return False
        if raw in ("1", "true", "yes", "on"):
            return True
        raise ConfigError(f"{name}={raw!r} is not a boolean (1 or 0)")

    def networks(self, name):
        nets = []
        for part in self._items(name):
            try:
                nets.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise ConfigError(f"{name}: {part!r} is not a CIDR network") from None
        return tuple(nets)

    def ports(self, name, default):
        items = self._items(name)
        if not items:
            return default
        ports = set()
        for part in items:
            if not part.isdigit() or not 1 <= int(part) <= 65535:
                raise ConfigError(f"{name}: {part!r} is not a TCP port")
            ports.add(int(part))
        return frozenset(ports)

    def names(self, name, default):
        items = tuple(dict.fromkeys(self._items(name)))
        return items or default

    def _items(self, name):
        return [p.strip() for p in self.env.get(name, "").split(",") if p.strip()]
