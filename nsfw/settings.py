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
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nsfw.cpus import cgroup_cpu_quota as cgroup_cpu_quota
from nsfw.cpus import cpu_count as _cpu_count
from nsfw.envvars import ConfigError as ConfigError
from nsfw.envvars import Flag, Names, Network, Networks, Number, PathText, Ports, Text, Var, read_all, var, var_factory

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
# 8.2 bytes per pixel at 10 MP with the base included; see docs/security.md).
DECODER_BASE_MB = 64
BYTES_PER_PIXEL = 8.0


def pixels_for_memory(memory_mb: int) -> int:
    """The pixel cap a decoder memory budget allows: the default NSFW_MAX_PIXELS."""
    return int((memory_mb - DECODER_BASE_MB) * MiB / BYTES_PER_PIXEL)


REDIS_SCHEMES = ("redis://", "rediss://", "unix://")  # what redis-py reads (NSFW_CACHE_URL)
DATABASE_SCHEMES = ("sqlite://", "postgresql://", "postgresql+psycopg://")  # NSFW_DATABASE_URL (review queue)
LIMIT_STORAGE_SCHEMES = ("memory://", "redis://", "rediss://", "redis+unix://")  # what the limits library reads

# The Configuration page's sections: the first field of each, and its title.
SECTIONS = {
    "fetch_timeout": "Fetching",
    "max_pixels": "Decoding",
    "model_dir": "Models",
    "adult_threshold": "Results, batches and the cache",
    "request_timeout": "Admission control",
    "port": "Server",
    "api_keys_file": "API keys, rate limits, Redis",
    "graceful_timeout": "Logs, metrics, shutdown",
    "max_video_bytes": "Video",
    "review": "Review queue",
}

_NUM = Number(int, low=1)  # the common case: a positive count


@dataclasses.dataclass(frozen=True)
class Settings:
    """Every setting, each declared once with its variable, default, parser and description (see envvars.py)."""

    # one declaration a variable, as the Configuration page lists them; ruff leaves them as written
    # fmt: off
    # fetching
    fetch_timeout: float = var(
        "NSFW_FETCH_TIMEOUT", 10.0, Number(float, low=0.1),
        "total seconds for one download: DNS, connect, redirects, headers and body")
    max_bytes: int = var(
        "NSFW_MAX_BYTES", 10 * MiB, _NUM,
        "largest image in bytes (10 MiB), downloaded (counted after content decoding) or uploaded")
    fetch_allow_nets: tuple[Network, ...] = var(
        "NSFW_FETCH_ALLOW_NETS", (), Networks(),
        "comma-separated CIDRs exempt from the address check, e.g. `127.0.0.1/32`")
    fetch_allow_ports: frozenset[int] = var(
        "NSFW_FETCH_ALLOW_PORTS", frozenset({80, 443}), Ports(), "comma-separated ports URLs may use")
    max_redirects: int = var(
        "NSFW_MAX_REDIRECTS", 3, Number(int, low=0),
        "most redirects followed; each hop is checked like the first URL")
    user_agent: str = var(
        "NSFW_USER_AGENT", "nsfw-service/1.0 (+image classifier)", Text(), "`User-Agent` sent with downloads")
    spool_bytes: int = var(
        "NSFW_SPOOL_BYTES", 1 * MiB, _NUM,
        "downloads and multipart uploads up to this size stay in memory, larger ones spill to a temporary file")
    tmp_dir: str | None = var(
        "NSFW_TMP_DIR", None, Text(), "where temporary files go", shown="system temp dir")
    # decoding (in sandboxed decoder processes, see nsfw/imaging/sandbox.py)
    max_pixels: int | None = var(
        "NSFW_MAX_PIXELS", None, _NUM,
        "largest image in pixels (width x height); by default what the decoder's memory budget holds at 8 bytes "
        "per pixel (WebP: half as many; HEIF and AVIF: 10 bytes a pixel, so 40 MP)",
        shown=f"from `NSFW_DECODE_MEMORY_MB`: `{pixels_for_memory(448)}`")
    max_frames: int = var(
        "NSFW_MAX_FRAMES", 8, Number(int, low=1, high=64), "most frames classified in an animation")
    decode_cpu_s: float = var(
        "NSFW_DECODE_CPU_S", 2.0, Number(float, low=0.05),
        "CPU seconds one image may cost to decode and preprocess; past it the decoder is killed "
        "(`422 image_too_complex`)")
    decode_memory_mb: int = var(
        "NSFW_DECODE_MEMORY_MB", 448, _NUM,
        "heap of one decoder process (`RLIMIT_DATA`); an image that needs more is `413 image_too_large`")
    decoders: int = var(
        "NSFW_DECODERS", 2, Number(int, low=1, high=64), "decoder processes per worker: images decoded at once")
    # fast decoding of large photos (nsfw/imaging/decode.py): JPEGs decoded at a reduced DCT
    # scale that still covers the model's input; not bit-exact with nsfwjs, so off by default
    fast_decode: bool = var(
        "NSFW_FAST_DECODE", False, Flag(),
        "`1` decodes large JPEGs at a reduced DCT scale (1/2, 1/4 or 1/8, keeping both sides at least twice the "
        "model's input): 2x less CPU for a 12 MP photo, 2.4x for 48 MP, but scores move by up to 0.03 from "
        "nsfwjs's (see Performance); other formats are decoded in full either way")
    # models
    model_dir: Path = var_factory(
        "NSFW_MODEL_DIR", default_model_dir, PathText(),
        "directory holding `manifest.json` and the `.tflite` files",
        shown="the package's `_model/` when installed, else `model/` in the repo")
    models: tuple[str, ...] = var(
        "NSFW_MODELS", ("mobilenet_v2",), Names(), "comma-separated models to serve; the first is the default")
    model_path: str | None = var(
        "NSFW_MODEL_PATH", None, Text(),
        "a model of your own (`.tflite`, `.keras`, `.h5` or a SavedModel directory), served as `custom`")
    model_classes: tuple[str, ...] = var(
        "NSFW_MODEL_CLASSES", ("drawings", "hentai", "neutral", "porn", "sexy"), Names(),
        "the output classes of `NSFW_MODEL_PATH`, in order", shown="`drawings,hentai,neutral,porn,sexy`")
    model_input_size: int | None = var(
        "NSFW_MODEL_INPUT_SIZE", None, _NUM, "the square input size of `NSFW_MODEL_PATH`",
        shown="read from the model")
    inference_threads: int = var(
        "NSFW_INFERENCE_THREADS", 1, _NUM, "CPU threads one inference may use")
    interpreters: int = var(
        "NSFW_INTERPRETERS", 1, _NUM,
        "images a worker runs through the model at once (inference threads), and LiteRT interpreters per model")
    # results
    adult_threshold: float = var(
        "NSFW_ADULT_THRESHOLD", 0.8, Number(float, low=0.0, high=1.0),
        "`verdict` is `adult` when `porn + hentai + sexy` is at least this")
    safe_threshold: float = var(
        "NSFW_SAFE_THRESHOLD", 0.2, Number(float, low=0.0, high=1.0),
        "`verdict` is `safe` when `porn + hentai + sexy` is at most this; below `NSFW_ADULT_THRESHOLD`")
    cache_size: int = var(
        "NSFW_CACHE_SIZE", 4096, Number(int, low=0),
        "results remembered per worker; `0` turns the cache off (Redis too)")
    max_batch: int = var(
        "NSFW_MAX_BATCH", 16, _NUM, "most images in one `/v1/classify` request")
    batch_concurrency: int = var(
        "NSFW_BATCH_CONCURRENCY", 4, _NUM, "images of a batch fetched and classified at once")
    max_request_bytes: int = var(
        "NSFW_MAX_REQUEST_BYTES", 32 * MiB, _NUM,
        "largest request body (32 MiB); each image in it is held to `NSFW_MAX_BYTES` too")
    # admission control
    request_timeout: float = var(
        "NSFW_REQUEST_TIMEOUT", 15.0, Number(float, low=0.5),
        "seconds one request may take in all: download, waiting, decode, inference (`504 deadline_exceeded`); "
        "below `NSFW_WORKER_TIMEOUT`")
    queue_depth: int = var(
        "NSFW_QUEUE_DEPTH", 32, Number(int, low=0),
        "images per worker that may wait for a decoder; past it `503 overloaded` at once")
    max_downloads: int = var(
        "NSFW_MAX_DOWNLOADS", 64, _NUM,
        "downloads in progress per worker (batches included); past it `503 overloaded` at once")
    # server (read by nsfw/server/gunicorn_conf.py)
    port: int = var(
        "PORT", 8080, Number(int, low=1, high=65535), "port gunicorn binds on `0.0.0.0`")
    workers: int = var_factory(
        "WEB_CONCURRENCY", _cpu_count, _NUM,
        "gunicorn worker processes (each loads its own models, about 100 MB); the CPU quota is read from the "
        "cgroup (`cpu.max`, or v1 `cpu.cfs_quota_us`) and rounded up, so a container limited to 1 CPU on a "
        "64-core host starts 1 worker, not 64",
        shown="number of CPUs, capped by the container's CPU quota")
    threads: int = var(
        "NSFW_THREADS", 32, _NUM,
        "gunicorn threads per worker: they mostly wait (downloads, decoders); the limits, not this, bound the "
        "CPU work")
    worker_timeout: int = var(
        "NSFW_WORKER_TIMEOUT", 30, _NUM, "seconds before gunicorn replaces a stuck worker")
    # slow clients (read by nsfw.server.worker): a request head must arrive whole within
    # header_timeout of the connection being ready; a body may go silent for body_timeout
    header_timeout: float = var(
        "NSFW_HEADER_TIMEOUT", 10.0, Number(float, low=0.1),
        "seconds a client has to send a whole request head; then `408 request_timeout` and the connection is "
        "closed")
    body_timeout: float = var(
        "NSFW_BODY_TIMEOUT", 5.0, Number(float, low=0.1),
        "longest silence while a client sends a body (or reads a response); then `408 request_timeout`")
    # protection (nsfw/protect): API keys, rate limits, and the result cache shared in Redis
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
        "NSFW_CACHE_TTL", 7 * 24 * 3600, _NUM, "seconds a result stays in that Redis (7 days)")
    # observability (nsfw/observe): logs and metrics; graceful shutdown (nsfw/server)
    graceful_timeout: int | None = var(
        "NSFW_GRACEFUL_TIMEOUT", None, _NUM,
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
    # video (nsfw/imaging/video.py, the `video` extra): decoded in the same decoder processes
    max_video_bytes: int = var(
        "NSFW_MAX_VIDEO_BYTES", 32 * MiB, _NUM,
        "largest video in bytes (32 MiB), downloaded or uploaded; which cap applies is decided by the body's "
        "first bytes, never its type (an upload is also held to `NSFW_MAX_REQUEST_BYTES`)")
    video_frames: int = var(
        "NSFW_VIDEO_FRAMES", 16, Number(int, low=1, high=256),
        "frames of a video classified, spread evenly over its duration")
    video_stop_at_adult: bool = var(
        "NSFW_VIDEO_STOP_AT_ADULT", False, Flag(),
        "`1`: stop at the first frame whose `porn + hentai + sexy` reaches `NSFW_ADULT_THRESHOLD`; nothing "
        "after it is decoded or classified")
    video_max_duration_s: float = var(
        "NSFW_VIDEO_MAX_DURATION_S", 600.0, Number(float, low=0.1),
        "longest video, in seconds, as declared and as any frame is stamped (`413 video_too_long`)")
    video_max_pixels: int = var(
        "NSFW_VIDEO_MAX_PIXELS", 3840 * 2160, _NUM,
        "largest video frame in pixels (3840 x 2160), from the headers and again inside the decoder "
        "(`413 video_too_large`)")
    video_max_decoded_frames: int = var(
        "NSFW_VIDEO_MAX_DECODED_FRAMES", 3000, _NUM,
        "most frames decoded to sample one video (`422 video_too_complex`)")
    video_cpu_s: float = var(
        "NSFW_VIDEO_CPU_S", 8.0, Number(float, low=0.05),
        "CPU seconds one video may cost to decode and preprocess, in place of `NSFW_DECODE_CPU_S`; past it the "
        "decoder is killed (`422 video_too_complex`)")
    # review queue (nsfw/review): people decide what the model could not; the service remembers
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
        "NSFW_REVIEW_WEBHOOK_ATTEMPTS", 10, _NUM, "attempts per delivery before it is dropped")
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

    def __post_init__(self) -> None:
        max_pixels = pixels_for_memory(self.decode_memory_mb) if self.max_pixels is None else self.max_pixels
        object.__setattr__(self, "max_pixels", max_pixels)
        if max_pixels < 1:
            raise ConfigError(
                f"NSFW_DECODE_MEMORY_MB={self.decode_memory_mb} leaves no memory for pixels "
                f"(at least {DECODER_BASE_MB + 1} is needed)"
            )
        if not self.request_timeout < self.worker_timeout:
            raise ConfigError("NSFW_REQUEST_TIMEOUT must be below NSFW_WORKER_TIMEOUT")
        if not self.safe_threshold < self.adult_threshold:
            raise ConfigError("NSFW_SAFE_THRESHOLD must be below NSFW_ADULT_THRESHOLD")
        graceful = math.ceil(self.request_timeout) + 5 if self.graceful_timeout is None else self.graceful_timeout
        object.__setattr__(self, "graceful_timeout", graceful)
        if not self.request_timeout < graceful:
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

    def _check_review(self) -> None:
        if self.review not in ("off", "unknown", "all"):
            raise ConfigError(f"NSFW_REVIEW={self.review!r} must be off, unknown or all")
        url = self.database_url
        if url is None:
            url = f"sqlite:///{Path(self.data_dir).expanduser().absolute() / 'nsfw.db'}"
            object.__setattr__(self, "database_url", url)
        if not url.startswith(DATABASE_SCHEMES):
            raise ConfigError("NSFW_DATABASE_URL must be a sqlite:/// or postgresql+psycopg:// URL")
        if self.db_auto_migrate is None:
            object.__setattr__(self, "db_auto_migrate", url.startswith("sqlite"))
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

    def _check_protection(self) -> None:
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

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings ``environ`` (by default the process's environment) asks for; ConfigError if unusable."""
        return cls(**read_all(dataclasses.fields(cls), os.environ if environ is None else environ))  # type: ignore[arg-type]


def variables() -> tuple[tuple[str, Var], ...]:
    """Every setting's field name and Var, in declaration order (for the Configuration page)."""
    return tuple((f.name, f.metadata["var"]) for f in dataclasses.fields(Settings))
