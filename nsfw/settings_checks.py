"""The checks across settings, and the defaults derived from other settings.

A variable's own range is its parser's business (nsfw/envvars.py); what is here needs more than
one value (a timeout below another), a library's reading (a rate limit), or fills in a default
that depends on others (the pixel cap from the decoder's memory, the database URL from the data
directory). :meth:`nsfw.settings.Settings.__post_init__` runs :func:`check_all` on every new
Settings, so a bad combination stops start-up instead of failing some request later.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from nsfw.envvars import ConfigError
from nsfw.settings_images import DECODER_BASE_MB, pixels_for_memory

if TYPE_CHECKING:
    from nsfw.settings import Settings

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")  # what redis-py reads (NSFW_CACHE_URL)
DATABASE_SCHEMES = ("sqlite://", "postgresql://", "postgresql+psycopg://")  # NSFW_DATABASE_URL (review queue)
LIMIT_STORAGE_SCHEMES = ("memory://", "redis://", "rediss://", "redis+unix://")  # what the limits library reads


def _derive(settings: Settings, name: str, value: object) -> None:
    """Set a derived default on the frozen Settings while it is being made."""
    object.__setattr__(settings, name, value)


def check_all(settings: Settings) -> None:
    """Fill in the derived defaults and check every combination; ConfigError names what is wrong."""
    check_limits(settings)
    check_models(settings)
    check_protection(settings)
    check_review(settings)


def check_limits(s: Settings) -> None:
    """The decoder's pixel cap, the timeouts' order, the verdict thresholds and the log options."""
    max_pixels = pixels_for_memory(s.decode_memory_mb) if s.max_pixels is None else s.max_pixels
    _derive(s, "max_pixels", max_pixels)
    if max_pixels < 1:
        raise ConfigError(
            f"NSFW_DECODE_MEMORY_MB={s.decode_memory_mb} leaves no memory for pixels "
            f"(at least {DECODER_BASE_MB + 1} is needed)"
        )
    if not s.request_timeout < s.worker_timeout:
        raise ConfigError("NSFW_REQUEST_TIMEOUT must be below NSFW_WORKER_TIMEOUT")
    if not s.safe_threshold < s.adult_threshold:
        raise ConfigError("NSFW_SAFE_THRESHOLD must be below NSFW_ADULT_THRESHOLD")
    graceful = math.ceil(s.request_timeout) + 5 if s.graceful_timeout is None else s.graceful_timeout
    _derive(s, "graceful_timeout", graceful)
    if not s.request_timeout < graceful:
        raise ConfigError("NSFW_GRACEFUL_TIMEOUT must be above NSFW_REQUEST_TIMEOUT")
    if s.log_format not in ("json", "text"):
        raise ConfigError(f"NSFW_LOG_FORMAT={s.log_format!r} must be json or text")
    if s.log_level not in ("debug", "info", "warning", "error", "critical"):
        raise ConfigError(f"NSFW_LOG_LEVEL={s.log_level!r} must be debug, info, warning, error or critical")


def check_models(s: Settings) -> None:
    """At least one model; `custom` exactly when a model of one's own is given."""
    if not s.models:
        raise ConfigError("NSFW_MODELS names no model")
    if "custom" in s.models and not s.model_path:
        raise ConfigError("NSFW_MODELS names 'custom' but NSFW_MODEL_PATH is not set")
    if s.model_path and "custom" not in s.models:
        _derive(s, "models", (*s.models, "custom"))


def check_protection(s: Settings) -> None:
    """The rate limit as the limits library reads it, and the Redis URLs' schemes."""
    if s.rate_limit is not None:
        from limits import parse_many  # only when limits are asked for

        try:
            parse_many(s.rate_limit)
        except ValueError:
            raise ConfigError(
                f"NSFW_RATE_LIMIT={s.rate_limit!r} is not a rate limit such as 600/minute;20/second"
            ) from None
    if not s.rate_limit_storage.startswith(LIMIT_STORAGE_SCHEMES):
        raise ConfigError("NSFW_RATE_LIMIT_STORAGE must be memory:// or a redis:// (rediss://, redis+unix://) URL")
    if s.rate_limit_fail not in ("open", "closed"):
        raise ConfigError(f"NSFW_RATE_LIMIT_FAIL={s.rate_limit_fail!r} is neither open nor closed")
    if s.cache_url is not None and not s.cache_url.startswith(REDIS_SCHEMES):
        raise ConfigError("NSFW_CACHE_URL must be a redis:// (or rediss://, unix://) URL")


def check_review(s: Settings) -> None:
    """The review database (its URL and migration defaults), its timeouts, the webhook and the cookie key."""
    if s.review not in ("off", "unknown", "all"):
        raise ConfigError(f"NSFW_REVIEW={s.review!r} must be off, unknown or all")
    url = s.database_url
    if url is None:
        url = f"sqlite:///{Path(s.data_dir).expanduser().absolute() / 'nsfw.db'}"
        _derive(s, "database_url", url)
    if not url.startswith(DATABASE_SCHEMES):
        raise ConfigError("NSFW_DATABASE_URL must be a sqlite:/// or postgresql+psycopg:// URL")
    if s.db_auto_migrate is None:
        _derive(s, "db_auto_migrate", url.startswith("sqlite"))
    if not s.review_db_timeout * 2 < s.request_timeout:
        # a reviewer's request may wait for a pooled connection, then run its statement: both inside the deadline
        raise ConfigError("NSFW_REVIEW_DB_TIMEOUT must be under half of NSFW_REQUEST_TIMEOUT")
    if s.review_webhook_url is not None:
        if not s.review_webhook_url.startswith(("http://", "https://")):
            raise ConfigError("NSFW_REVIEW_WEBHOOK_URL must be an http:// or https:// URL")
        if not s.review_webhook_secret:
            raise ConfigError("NSFW_REVIEW_WEBHOOK_URL is set but NSFW_REVIEW_WEBHOOK_SECRET is not")
    if s.secret_key is not None and len(s.secret_key) < 32:
        raise ConfigError("NSFW_SECRET_KEY must be at least 32 characters (e.g. nsfw keygen's key)")
