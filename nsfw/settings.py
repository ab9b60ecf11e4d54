"""The one place configuration is read.

Everything the service can be told comes from environment variables with the
``NSFW_`` prefix (plus ``PORT`` and ``WEB_CONCURRENCY``, which hosting
platforms set). They are read once into a frozen :class:`Settings`; every other
module receives that object instead of looking at the environment itself.
A bad value stops start-up with a message naming the variable, rather than
surfacing later as a confusing failure on some request.

The variables are declared by section in nsfw/settings_images.py (the image path) and
nsfw/settings_service.py (the service around it); the checks across them are in
nsfw/settings_checks.py.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nsfw.cpus import cgroup_cpu_quota as cgroup_cpu_quota
from nsfw.cpus import cpu_count as _cpu_count  # noqa: F401 (tests read the CPU count through here)
from nsfw.envvars import ConfigError as ConfigError
from nsfw.envvars import Var, read_all
from nsfw.settings_checks import DATABASE_SCHEMES as DATABASE_SCHEMES
from nsfw.settings_checks import LIMIT_STORAGE_SCHEMES as LIMIT_STORAGE_SCHEMES
from nsfw.settings_checks import REDIS_SCHEMES as REDIS_SCHEMES
from nsfw.settings_checks import check_all
from nsfw.settings_images import BYTES_PER_PIXEL as BYTES_PER_PIXEL
from nsfw.settings_images import DECODER_BASE_MB as DECODER_BASE_MB
from nsfw.settings_images import Admission, Decoding, Fetching, Models, Results, Video
from nsfw.settings_images import MiB as MiB
from nsfw.settings_images import pixels_for_memory as pixels_for_memory
from nsfw.settings_service import Observability, Protection, Review, Server

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


# A dataclass takes its bases' fields in reverse order of the MRO, so the LAST base's come
# first: the sections are listed from the page's last to its first.
@dataclasses.dataclass(frozen=True)
class Settings(Review, Video, Observability, Protection, Server, Admission, Results, Models, Decoding, Fetching):
    """Every setting, each declared once with its variable, default, parser and description (see envvars.py)."""

    def __post_init__(self) -> None:
        check_all(self)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings ``environ`` (by default the process's environment) asks for; ConfigError if unusable."""
        return cls(**read_all(dataclasses.fields(cls), os.environ if environ is None else environ))  # type: ignore[arg-type]


def variables() -> tuple[tuple[str, Var], ...]:
    """Every setting's field name and Var, in declaration order (for the Configuration page)."""
    return tuple((f.name, f.metadata["var"]) for f in dataclasses.fields(Settings))
