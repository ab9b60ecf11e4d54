"""The help texts every ``nsfw`` command shares: usage, the command list, output, exit status, environment."""

from __future__ import annotations

USAGE = """\
%(prog)s [-h] COMMAND ...
       %(prog)s SOURCE ...             (the same as `%(prog)s classify SOURCE ...`)"""

DESCRIPTION = """\
Classify images with the GantMan nsfw_model (the nsfwjs MobileNetV2), with the same
core and the same scores as the HTTP API, or run that API.

commands (`%(prog)s COMMAND --help` for each):
  classify SOURCE ...    classify image files, directories (every image in them, found
                         by its bytes), http(s) URLs, @LIST files and - (stdin), on
                         every core; the default command, so `%(prog)s photo.jpg` is
                         `%(prog)s classify photo.jpg` (for a file named like a command:
                         `%(prog)s classify serve`)
  serve                  run the HTTP API under gunicorn on 0.0.0.0:$PORT (default 8080)
                         with the project's gunicorn settings
  models                 list the served models (--all: every model in the manifest)
                         and check their files against the manifest, as the server does
  keygen NAME            print a new API key and the line to add to NSFW_API_KEYS_FILE
  bulk --input SRC --output DST
                         classify a directory or a list of files or URLs on Ray Data
                         (the 'bulk' extra: pip install '.[bulk]'), to Parquet or JSON Lines
  reviewer NAME          print a new review-queue token and the line to add to
                         NSFW_REVIEWERS_FILE
  db upgrade|current|prune
                         create or migrate the review database (NSFW_DATABASE_URL),
                         show its revision, or apply NSFW_REVIEW_RETENTION_DAYS now
  hashes import|export|list|remove
                         manage the hash lists (known content) in that database
"""

OUTPUT = """\
output:
  classify writes one record per image on stdout (or --output FILE), as each image is
  done: not in input order (a slow URL must not hold back the rest); each record names
  its source. JSON Lines (--format jsonl, the default), one object per line:
    {"source": "photo.jpg", "model": "mobilenet_v2", "drawings": 0.0013, "hentai": 0.0008,
     "neutral": 0.9308, "porn": 0.0629, "sexy": 0.0042, "nsfw": 0.0679, "verdict": "safe",
     "top": "neutral"}
  nsfw = porn + hentai + sexy; verdict is adult (nsfw >= NSFW_ADULT_THRESHOLD), safe
  (nsfw <= NSFW_SAFE_THRESHOLD) or unknown. An image that failed gets the error the HTTP
  API would answer ("unreadable" for a file that cannot be opened):
    {"source": "http://10.0.0.1/a.jpg", "error": {"code": "blocked_address", "message": "..."}}
  CSV (--format csv): a header, then one row per image with the columns source, model,
  the five scores, nsfw, verdict, top, error_code, error_message (empty where they do not
  apply).
  models writes one JSON line per model. stdout holds nothing but results: a progress
  bar (when stderr is a terminal) and a summary (counts per verdict, errors per code,
  images per second) go to stderr; --quiet leaves out both.

exit status:
  0    every image was classified (models: every served model's file is in order)
  1    at least one image failed (its record says why; the others were still classified),
       or a worker process died (the images it held have no record: --resume retries them)
  2    usage or configuration error: bad arguments, an unreadable @LIST, an --output that
       --resume cannot continue, a bad NSFW_* value, missing or altered model files
  130  interrupted by Ctrl-C (143: SIGTERM): the images in flight were finished and written,
       the rest were not started; run the same command with --resume to continue
"""

ENVIRONMENT = """\
environment:
  The NSFW_* variables configure the command as they configure the server: models
  (NSFW_MODELS, NSFW_MODEL_DIR, NSFW_MODEL_PATH), limits, timeouts and which networks
  URLs may reach (NSFW_FETCH_ALLOW_NETS). serve also reads PORT, WEB_CONCURRENCY,
  NSFW_THREADS, NSFW_WORKER_TIMEOUT, NSFW_GRACEFUL_TIMEOUT, the log and metrics settings
  (NSFW_LOG_FORMAT, NSFW_LOG_LEVEL, NSFW_METRICS_TOKEN...) and gunicorn's own
  GUNICORN_CMD_ARGS. The full list is the Configuration page (docs/configuration.md).
"""

EPILOG = f"{OUTPUT}\n{ENVIRONMENT}"
