"""Command line: classify local files or URLs with the same core the server uses.

    python -m nsfw photo.jpg https://example.com/image.png

Prints one JSON object per line: the five scores, or the error the HTTP API
would have answered.
"""

from __future__ import annotations

import argparse
import json

from nsfw.errors import ServiceError
from nsfw.pipeline import Detector
from nsfw.settings import ConfigError, Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nsfw", description=__doc__.split("\n")[0])
    parser.add_argument("images", nargs="+", help="image file paths or http(s) URLs")
    args = parser.parse_args(argv)
    try:
        detector = Detector(Settings.from_env())
    except ConfigError as exc:
        parser.error(str(exc))
    failed = 0
    try:
        for source in args.images:
            try:
                if source.startswith(("http://", "https://")):
                    result = detector.classify_url(source)
                else:
                    with open(source, "rb") as fh:
                        result = detector.classify_bytes(fh)
                line = {"source": source, **result.scores}
            except ServiceError as exc:
                failed += 1
                line = {"source": source, "error": exc.to_dict()}
            except OSError as exc:
                failed += 1
                line = {"source": source, "error": {"code": "unreadable", "message": str(exc)}}
            print(json.dumps(line), flush=True)
    finally:
        detector.close()
    return 1 if failed else 0
