"""``nsfw serve`` and ``nsfw models``: run the HTTP API, and check the model files it would load."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from nsfw.cli.texts import ENVIRONMENT, EPILOG
from nsfw.settings import Settings

EXIT_OK, EXIT_USAGE = 0, 2
GUNICORN_CONFIG = "python:nsfw.server.gunicorn_conf"
WSGI_APP = "nsfw:create_app()"


def add_parsers(commands: argparse._SubParsersAction, prog: str, formatter: type[argparse.HelpFormatter]) -> None:
    serve = commands.add_parser(
        "serve",
        prog=f"{prog} serve",
        description="Run the HTTP API under gunicorn with the project's settings (nsfw/server/gunicorn_conf.py):\n"
        "bind 0.0.0.0:$PORT, WEB_CONCURRENCY workers, each loading its models before it\n"
        "accepts requests. Exit status 2 if the configuration or the model files are wrong.",
        epilog=ENVIRONMENT,
        formatter_class=formatter,
    )
    serve.set_defaults(run=run_serve, parser=serve)

    models = commands.add_parser(
        "models",
        prog=f"{prog} models",
        description="List the served models (NSFW_MODELS, then NSFW_MODEL_PATH as 'custom'), one JSON\n"
        "line each, and check each file against the manifest as the server does at start.",
        epilog=EPILOG,
        formatter_class=formatter,
    )
    models.add_argument("--all", action="store_true", help="also list the manifest's models that are not served")
    models.set_defaults(run=run_models, parser=models)


def run_serve(args: argparse.Namespace) -> int:
    """Check the configuration, then become gunicorn (exec: signals reach it directly)."""
    settings = Settings.from_env()
    problems = [line["error"] for line in describe_models(settings, include_unserved=False) if "error" in line]
    if problems:
        args.parser.exit(EXIT_USAGE, "".join(f"{args.parser.prog}: error: {p}\n" for p in problems))
    command = [sys.executable, "-m", "gunicorn", "--config", GUNICORN_CONFIG, WSGI_APP]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, command)
    return EXIT_USAGE  # not reached


def run_models(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    lines = describe_models(settings, include_unserved=args.all)
    for line in lines:
        print(json.dumps(line), flush=True)
    return EXIT_USAGE if any(line["served"] and "error" in line for line in lines) else EXIT_OK


def describe_models(settings: Settings, include_unserved: bool) -> list[dict]:
    """One dict per model: what the manifest (or NSFW_MODEL_PATH) says, and whether it would load."""
    from nsfw.errors import ModelError
    from nsfw.models import manifest as manifest_file
    from nsfw.models.registry import CUSTOM
    from nsfw.models.runner import ModelSpec

    model_dir = Path(settings.model_dir)
    known = manifest_file.models(model_dir)
    names = [*settings.models, *(n for n in known if include_unserved and n not in settings.models)]
    lines = []
    for name in names:
        line = {"name": name, "served": name in settings.models, "default": name == settings.models[0]}
        if name == CUSTOM:
            path = Path(settings.model_path or "")  # set whenever CUSTOM is served
            line.update(
                description="the operator's own model (NSFW_MODEL_PATH)",
                file=str(path),
                input_size=settings.model_input_size,
                classes=list(settings.model_classes),
            )
            if not path.exists():
                line["error"] = f"NSFW_MODEL_PATH {path} does not exist"
            lines.append(line)
            continue
        entry = known.get(name, {})
        line.update(
            description=entry.get("description", ""),
            file=str(model_dir / entry.get("file", "")),
            input_size=(entry.get("input") or {}).get("size"),
            classes=entry.get("classes", []),
        )
        try:
            spec = ModelSpec.from_manifest(model_dir, name)
            spec.verify()
            line["sha256"] = spec.sha256
        except ModelError as exc:
            line["error"] = str(exc)
        except OSError as exc:
            line["error"] = f"cannot read {model_dir / entry.get('file', '')}: {exc}"
        lines.append(line)
    return lines
