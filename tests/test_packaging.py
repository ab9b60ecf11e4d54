"""The package as pip installs it: declared dependencies agree with the pins, and the wheel works.

pyproject.toml declares compatible ranges (what `pip install .` resolves);
requirements.txt and requirements-dev.txt pin the exact set deployments and CI
install. A pin outside its range, or a dependency declared and never pinned,
means the two installs differ in what they were tested with.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from nsfw import settings as settings_module

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
MANIFEST = json.loads((ROOT / "model" / "manifest.json").read_text())
IMAGE = ROOT / "tests" / "data" / "images" / "chelsea.png"


def pins(name: str) -> dict[str, str]:
    """canonical name -> pinned version, from a requirements file and the files it includes (-r)."""
    found = {}
    for raw in (ROOT / name).read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            found.update(pins(line[3:].strip()))
            continue
        req = Requirement(line)
        (spec,) = req.specifier
        assert spec.operator == "==", f"{name}: {line!r} is not pinned with =="
        found[canonicalize_name(req.name)] = spec.version
    return found


def direct_pins(name: str) -> set[str]:
    """The names under the file's '# Direct:' heading (above '# Transitive:')."""
    text = (ROOT / name).read_text()
    section = text.split("# Direct:", 1)[1].split("# Transitive:", 1)[0]
    return {canonicalize_name(Requirement(line).name) for line in section.splitlines() if line.strip()}


def declared(requirements: list[str]) -> list[Requirement]:
    """The requirements, without the project's references to its own extras."""
    reqs = [Requirement(r) for r in requirements]
    return [r for r in reqs if canonicalize_name(r.name) != canonicalize_name(PROJECT["name"])]


RUNTIME = declared(PROJECT["dependencies"])
EXTRAS = {extra: declared(reqs) for extra, reqs in PROJECT["optional-dependencies"].items()}


@pytest.mark.parametrize("req", RUNTIME, ids=str)
def test_every_runtime_dependency_is_pinned_within_its_range(req):
    pinned = pins("requirements.txt")
    name = canonicalize_name(req.name)
    assert name in pinned, f"{req.name} is declared in pyproject.toml but not pinned in requirements.txt"
    assert req.specifier.contains(pinned[name], prereleases=True), (
        f"requirements.txt pins {req.name}=={pinned[name]}, outside the declared {req}"
    )


def test_the_direct_pins_are_exactly_the_declared_dependencies():
    """A package the code imports must be declared, or `pip install .` would miss it."""
    assert direct_pins("requirements.txt") == {canonicalize_name(r.name) for r in RUNTIME}


@pytest.mark.parametrize(
    "extra, req", [(extra, req) for extra, reqs in EXTRAS.items() for req in reqs], ids=lambda v: str(v)
)
def test_every_extra_is_pinned_within_its_range_in_the_dev_set(extra, req):
    pinned = pins("requirements-dev.txt")
    name = canonicalize_name(req.name)
    assert name in pinned, f"[{extra}] {req.name} is not pinned in requirements-dev.txt"
    assert req.specifier.contains(pinned[name], prereleases=True), (
        f"requirements-dev.txt pins {req.name}=={pinned[name]}, outside [{extra}] {req}"
    )


def test_tensorflow_is_an_extra_and_never_a_serving_dependency():
    """The serving install stays small: TensorFlow only for bring-your-own Keras models."""
    names = {canonicalize_name(r.name) for r in RUNTIME}
    assert not names & {"tensorflow", "tensorflow-cpu", "keras", "tf-keras"}
    assert [canonicalize_name(r.name) for r in EXTRAS["tensorflow"]] == ["tensorflow-cpu"]
    assert "tensorflow" not in pins("requirements.txt") and "tensorflow-cpu" not in pins("requirements.txt")


def test_the_nsfw_console_script_resolves_to_the_cli():
    target = PROJECT["scripts"]["nsfw"]
    module, _, attr = target.partition(":")
    entry = getattr(importlib.import_module(module), attr)
    assert callable(entry)
    from nsfw.cli import main

    assert entry is main


# -- the model files in the wheel ------------------------------------------------------------

FORCE_INCLUDE = PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
PACKAGED = settings_module.PACKAGED_MODEL_DIR.relative_to(settings_module.REPO_ROOT).as_posix()


def test_the_wheel_maps_the_manifest_and_every_shipped_model_where_settings_looks():
    shipped = [entry["file"] for entry in MANIFEST["models"].values() if entry.get("shipped")]
    assert shipped, "the manifest marks no model as shipped"
    for name in ["manifest.json", *shipped]:
        assert FORCE_INCLUDE.get(f"model/{name}") == f"{PACKAGED}/{name}", f"model/{name} is not in the wheel"
    for source in FORCE_INCLUDE:
        assert (ROOT / source).is_file(), f"pyproject.toml maps {source}, which does not exist"


def test_the_default_model_dir_is_the_packaged_one_when_it_exists(tmp_path, monkeypatch):
    monkeypatch.setattr(settings_module, "PACKAGED_MODEL_DIR", tmp_path / "_model")
    assert settings_module.default_model_dir() == settings_module.REPO_MODEL_DIR  # a checkout
    (tmp_path / "_model").mkdir()
    (tmp_path / "_model" / "manifest.json").write_text("{}")
    assert settings_module.default_model_dir() == tmp_path / "_model"  # an installed wheel
    assert settings_module.Settings.from_env({"NSFW_MODEL_DIR": "/elsewhere"}).model_dir == Path("/elsewhere")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built by the build backend's PEP 517 hook, exactly as pip would build it."""
    pytest.importorskip("hatchling", reason="the build backend (pinned in requirements-dev.txt) is not installed")
    out = tmp_path_factory.mktemp("wheel")
    code = "import sys, hatchling.build as b; print(b.build_wheel(sys.argv[1]))"
    done = subprocess.run([sys.executable, "-c", code, str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return out / done.stdout.strip().splitlines()[-1]


def test_the_wheel_holds_the_package_the_models_and_the_console_script(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        entry_points = zf.read(f"{dist_info}/entry_points.txt").decode()
        metadata = zf.read(f"{dist_info}/METADATA").decode()
        shipped = {
            e["file"]: MANIFEST["files"][e["file"]]["sha256"] for e in MANIFEST["models"].values() if e["shipped"]
        }
        for file, sha in shipped.items():
            assert hashlib.sha256(zf.read(f"{PACKAGED}/{file}")).hexdigest() == sha, file
    assert {
        "nsfw/__init__.py",
        "nsfw/cli/__init__.py",
        "nsfw/server/gunicorn_conf.py",
        f"{PACKAGED}/manifest.json",
    } <= names
    web = ROOT / "nsfw" / "web"
    pages = {
        p.relative_to(ROOT).as_posix() for d in ("static", "page/static", "review/static") for p in (web / d).iterdir()
    }
    expected = {
        "nsfw/web/static/base.css",
        *(f"nsfw/web/page/static/{n}" for n in ("index.html", "page.js", "page.css")),
    }
    assert expected <= pages <= names
    top = {n.split("/")[0] for n in names}
    assert top == {"nsfw", dist_info}, f"the wheel installs more than the package: {sorted(top)}"
    assert not [n for n in names if n.endswith((".pyc", ".bin")) or "/__pycache__/" in n]
    assert re.search(r"^nsfw = nsfw\.cli:main$", entry_points, re.M), entry_points
    lines = metadata.splitlines()
    requires = [Requirement(line.split(": ", 1)[1]) for line in lines if line.startswith("Requires-Dist:")]
    runtime = {canonicalize_name(r.name): r.specifier for r in requires if r.marker is None}
    assert runtime == {canonicalize_name(r.name): r.specifier for r in RUNTIME}


def test_the_unpacked_wheel_classifies_from_any_directory(wheel, tmp_path):
    """Installed, the package finds its own model files, wherever it is run from."""
    site = tmp_path / "site-packages"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("NSFW_MODEL_DIR", "PYTHONPATH")}
    env["PYTHONPATH"] = str(site)  # the dependencies come from this interpreter's environment
    done = subprocess.run(
        [sys.executable, "-m", "nsfw", str(IMAGE)], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    line = json.loads(done.stdout)
    assert line["neutral"] > 0.9
    where = subprocess.run(
        [sys.executable, "-c", "import nsfw.settings as s; print(s.Settings().model_dir)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert Path(where.stdout.strip()) == site / PACKAGED
    # the page at / and its files come from the installed package too
    serve = (
        "from nsfw import create_app\n"
        "client = create_app().test_client()\n"
        "for path in ('/', '/assets/page.js', '/assets/page.css'):\n"
        "    response = client.get(path)\n"
        "    print(path, response.status_code, response.mimetype, len(response.data))\n"
    )
    served = subprocess.run(
        [sys.executable, "-c", serve], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=60
    )
    assert served.returncode == 0, served.stderr
    lines = [line.split() for line in served.stdout.splitlines()]
    assert [line[:3] for line in lines] == [
        ["/", "200", "text/html"],
        ["/assets/page.js", "200", "text/javascript"],
        ["/assets/page.css", "200", "text/css"],
    ]
    assert all(int(line[3]) > 1000 for line in lines), served.stdout


# -- the habits: ruff pinned once, CI runs the README's test command ------------------------


def test_the_pre_commit_hook_runs_the_pinned_ruff():
    config = (ROOT / ".pre-commit-config.yaml").read_text()
    rev = re.search(r"astral-sh/ruff-pre-commit\n\s+rev: v(\S+)", config)
    assert rev, config
    assert rev.group(1) == pins("requirements-dev.txt")["ruff"]


def test_ci_runs_the_readme_test_command_verbatim():
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```sh\n(.*?)\n```", quick_start, re.S)
    test_command = next(c for c in commands if "pytest" in c)
    assert test_command in (ROOT / ".ci" / "run").read_text().splitlines()
