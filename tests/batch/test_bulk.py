"""nsfw bulk: the same scores on Ray Data as `nsfw classify` and the HTTP API, a row for every failure.

One single-node Ray (``ray_cluster``, two CPUs) serves the in-process tests; the command itself
runs as a subprocess too, starting and stopping a Ray of its own.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from helpers import CLASSES, IMAGES, TESTS

# Ray must not phone home from a test run, and listens on loopback only (read when it is imported)
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # see nsfw.batch.bulk.RAY_LOCAL_ONLY
ray = pytest.importorskip("ray", reason="Ray is the [bulk] extra: pip install -r requirements-dev.txt")
pa = pytest.importorskip("pyarrow")
import pyarrow.parquet as pq  # noqa: E402
from PIL import Image  # noqa: E402

from nsfw.batch import bulk, records  # noqa: E402
from nsfw.pipeline import Detector  # noqa: E402
from nsfw.settings import Settings  # noqa: E402

ROOT = TESTS.parent
BLOCKED = "http://10.0.0.1/x.jpg"  # a private address: refused before any packet is sent


@pytest.fixture(scope="module", autouse=True)
def ray_tmpdir():
    """Where every Ray of this module (in-process and the command's) keeps its session directories,
    removed after the module: by default each start leaves a /tmp/ray/session_* behind. A short path
    of its own (RAY_TMPDIR, read when Ray starts): Ray's Unix sockets lie deep inside it, and a
    socket's path may not exceed 107 bytes."""
    path = Path(tempfile.mkdtemp(prefix="nsfw-ray-"))
    before = os.environ.get("RAY_TMPDIR")
    os.environ["RAY_TMPDIR"] = str(path)
    try:
        yield path
    finally:
        if before is None:
            del os.environ["RAY_TMPDIR"]
        else:
            os.environ["RAY_TMPDIR"] = before
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def ray_cluster():
    """One single-node Ray for every Ray test (all in this module); every process it started is
    gone after it. Not session-wide: the rest of the suite counts the sockets and child processes
    of the pytest process, and Ray's driver connection and daemons would be among them."""
    marker = f"BULK_TEST_RAY={uuid.uuid4().hex}"
    name, value = marker.split("=")
    os.environ[name] = value  # inherited by everything Ray starts (this process's own /proc environ is older)
    try:
        ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    finally:
        del os.environ[name]
    yield
    ray.shutdown()
    assert wait_for_no_processes(marker) == [], "Ray left processes behind"


@pytest.fixture(scope="session")
def photos(tmp_path_factory) -> Path:
    """A few dozen distinct images: the test photos, cropped, flipped and re-encoded, in subfolders."""
    root = tmp_path_factory.mktemp("photos")
    for index, source in enumerate(sorted(p for p in IMAGES.iterdir() if p.suffix in (".jpg", ".png"))):
        folder = root / f"set{index % 3}"
        folder.mkdir(exist_ok=True)
        (folder / source.name).write_bytes(source.read_bytes())
        with Image.open(source) as image:
            image = image.convert("RGB")
            w, h = image.size
            variants = {
                "crop": image.crop((w // 8, h // 8, w - w // 8, h - h // 8)),
                "flip": image.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
                "small": image.resize((max(1, w // 2), max(1, h // 2))),
            }
            for name, variant in variants.items():
                fmt = "PNG" if name == "flip" else "JPEG"
                variant.save(folder / f"{source.stem}_{name}.{fmt.lower()}", fmt)
    (root / "notes.txt").write_text("not an image: a directory walk skips it")
    return root


def image_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix in (".jpg", ".png", ".jpeg"))


def run_bulk(src, output, fmt=None, batch_size=4, **options) -> tuple[int, int]:
    """What `nsfw bulk` does once Ray is up, on the session's Ray."""
    out = bulk.Output.parse(str(output), fmt)
    sources = bulk.list_sources(str(src))
    return out.write(bulk.classify(bulk.to_dataset(sources, batch_size), batch_size=batch_size, **options))


def read_rows(path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def environ(**changes):
    env = {k: v for k, v in os.environ.items() if not k.startswith("NSFW_")}
    env.update(changes)
    return env


def allow_loopback(httpserver) -> dict:
    return {"NSFW_FETCH_ALLOW_NETS": "127.0.0.1/32", "NSFW_FETCH_ALLOW_PORTS": f"80,443,{httpserver.port}"}


def test_the_local_ray_speaks_loopback_only(ray_cluster):
    assert ray.util.get_node_ip_address() == "127.0.0.1"
    assert {node["NodeManagerAddress"] for node in ray.nodes()} == {"127.0.0.1"}


# --- the same scores as everywhere else -----------------------------------------------------


@pytest.fixture(scope="module")
def directory_output(ray_cluster, photos, tmp_path_factory) -> Path:
    """The photo folder through bulk once, to a Parquet file."""
    out = tmp_path_factory.mktemp("out") / "scores.parquet"
    total, failed = run_bulk(photos, out, batch_size=4)
    assert (total, failed) == (len(image_files(photos)), 0)
    return out


@pytest.fixture(scope="module")
def directory_rows(directory_output) -> list[dict]:
    return read_rows(directory_output)


def test_a_directory_gives_one_row_per_image_in_order(directory_rows, photos):
    files = image_files(photos)
    assert len(files) >= 28
    assert [row["source"] for row in directory_rows] == [str(p) for p in files]
    assert {row["model"] for row in directory_rows} == {"mobilenet_v2"}
    assert all(row["error_code"] is None and row["error_message"] is None for row in directory_rows)


def test_the_parquet_schema_is_strings_float64_and_the_pdq_quality_int64(directory_output):
    schema = pq.read_schema(directory_output)
    assert schema.names == list(records.COLUMNS)
    for name in records.COLUMNS:
        expected = pa.float64() if name in (*CLASSES, "nsfw") else pa.int64() if name == "pdq_quality" else pa.string()
        assert schema.field(name).type == expected, name


def test_scores_are_exactly_those_of_the_core(directory_rows, photos):
    settings = Settings.from_env()
    detector = Detector(settings)
    detector.load()
    try:
        for row in directory_rows:
            result = detector.classify_bytes(Path(row["source"]).read_bytes())
            expected = records.flat(records.success(row["source"], result, _thresholds(settings)))
            assert row == expected, row["source"]
    finally:
        detector.close()


def test_scores_are_exactly_those_of_the_http_api(directory_rows, client):
    for row in directory_rows:
        response = client.post("/predict", data=Path(row["source"]).read_bytes(), content_type="image/jpeg")
        assert response.status_code == 200, response.get_data(as_text=True)
        answer = response.get_json()
        assert {cls: row[cls] for cls in CLASSES} == {cls: answer[cls] for cls in CLASSES}, row["source"]


def test_scores_are_exactly_those_of_nsfw_classify(directory_rows):
    sources = [row["source"] for row in directory_rows]
    done = subprocess.run(
        [sys.executable, "-m", "nsfw", "classify", *sources],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=environ(),
    )
    assert done.returncode == 0, done.stderr
    # classify writes records as they finish (not in input order); bulk keeps the input order
    lines = {line["source"]: line for line in map(json.loads, done.stdout.splitlines())}
    assert sorted(lines) == sorted(sources)
    for row in directory_rows:
        line = lines[row["source"]]
        assert {cls: row[cls] for cls in CLASSES} == {cls: line[cls] for cls in CLASSES}, row["source"]
        assert (row["nsfw"], row["verdict"], row["top"]) == (line["nsfw"], line["verdict"], line["top"])


def _thresholds(settings):
    from nsfw.verdict import Thresholds

    return Thresholds(adult=settings.adult_threshold, safe=settings.safe_threshold)


# --- failures are rows ----------------------------------------------------------------------


@pytest.fixture
def mixed_list(tmp_path, photos, httpserver) -> tuple[Path, list[str]]:
    """A .txt list of good files, a served URL and every kind of bad source."""
    photo = image_files(photos)[0]
    httpserver.expect_request("/cat.png").respond_with_data(
        (IMAGES / "chelsea.png").read_bytes(), content_type="image/png"
    )
    not_image = tmp_path / "notes.jpg"
    not_image.write_text("plain text, named like a photo")
    sources = [
        str(photo),
        httpserver.url_for("/cat.png"),
        str(tmp_path / "missing.jpg"),
        str(not_image),
        BLOCKED,
        "file://" + str(IMAGES / "chelsea.png"),
        str(tmp_path),  # a directory is no image file
    ]
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(sources[:3]) + "\n\n" + "\n".join(sources[3:]) + "\n")
    return listing, sources


EXPECTED_CODES = [None, None, "unreadable", "unsupported_media", "blocked_address", None, "unreadable"]


def test_failures_are_rows_with_the_apis_codes(ray_cluster, mixed_list, httpserver, tmp_path, monkeypatch):
    for name, value in allow_loopback(httpserver).items():
        monkeypatch.setenv(name, value)
    listing, sources = mixed_list
    out = tmp_path / "out.jsonl"
    total, failed = run_bulk(listing, out, batch_size=2)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert (total, failed) == (len(sources), 4)
    assert [line["source"] for line in lines] == sources
    assert [line.get("error", {}).get("code") for line in lines] == EXPECTED_CODES
    cat = json.loads(subprocess.check_output([sys.executable, "-m", "nsfw", str(IMAGES / "chelsea.png")], cwd=ROOT))
    for index in (1, 5):  # the served URL and the file:// URI: the same cat
        assert {cls: lines[index][cls] for cls in CLASSES} == {cls: cat[cls] for cls in CLASSES}
        assert set(lines[index]) == {name for name in records.COLUMNS if not name.startswith(("error_", "pdq_"))}
        assert len(lines[index]["pdq"]["hash"]) == 64 and lines[index]["pdq"]["quality"] >= 50
    assert all(set(lines[i]) == {"source", "error"} for i, code in enumerate(EXPECTED_CODES) if code)
    assert all(line["error"]["message"] for line in lines if "error" in line)
    # the private address was refused before any traffic: the local server saw only its own image
    assert [request.path for request, _ in httpserver.log] == ["/cat.png"]


def test_without_the_loopback_allowance_the_local_server_is_blocked_too(ray_cluster, httpserver, tmp_path, monkeypatch):
    """The actors read NSFW_* from the driver's environment: here, nothing allows loopback."""
    for name in [n for n in os.environ if n.startswith("NSFW_")]:
        monkeypatch.delenv(name)
    listing = tmp_path / "list.txt"
    listing.write_text(httpserver.url_for("/cat.png") + "\n")
    out = tmp_path / "out.parquet"
    assert run_bulk(listing, out) == (1, 1)
    assert read_rows(out)[0]["error_code"] == "blocked_address"
    assert httpserver.log == []


def test_an_actors_own_concurrency_never_makes_overloaded_rows(ray_cluster, photos, tmp_path, monkeypatch):
    """More images in flight than one decoder and no queue admit: the actor holds them back."""
    for name, value in {"NSFW_BATCH_CONCURRENCY": "8", "NSFW_DECODERS": "1", "NSFW_QUEUE_DEPTH": "0"}.items():
        monkeypatch.setenv(name, value)
    files = [str(p) for p in image_files(photos) if "retina" in p.name or "astronaut" in p.name]
    (tmp_path / "in.txt").write_text("".join(f"{f}\n" for f in files))
    out = tmp_path / "out.parquet"
    assert run_bulk(tmp_path / "in.txt", out, batch_size=len(files)) == (len(files), 0)
    assert [row["error_code"] for row in read_rows(out)] == [None] * len(files)


# --- every input kind and output ------------------------------------------------------------


def test_every_input_kind_lists_the_same_sources(photos, tmp_path):
    files = [str(p) for p in image_files(photos)]
    (tmp_path / "list.txt").write_text("\n".join(files) + "\n")
    (tmp_path / "urls.csv").write_text("id,url\n" + "".join(f"{i},{f}\n" for i, f in enumerate(files)))
    (tmp_path / "paths.csv").write_text("Path\n" + "".join(f"{f}\n" for f in files))
    (tmp_path / "bare.csv").write_text("".join(f'"{f}"\n' for f in files))
    pq.write_table(pa.table({"id": list(range(len(files))), "url": files}), tmp_path / "urls.parquet")
    pq.write_table(pa.table({"path": files}), tmp_path / "paths.parquet")
    (tmp_path / "dataset.parquet").mkdir()  # a directory of Parquet files, as `bulk` itself writes
    pq.write_table(pa.table({"path": files[:10]}), tmp_path / "dataset.parquet" / "a.parquet")
    pq.write_table(pa.table({"path": files[10:]}), tmp_path / "dataset.parquet" / "b.parquet")
    assert bulk.list_sources(str(photos)) == files
    for name in ("list.txt", "urls.csv", "paths.csv", "bare.csv", "urls.parquet", "paths.parquet", "dataset.parquet"):
        assert bulk.list_sources(str(tmp_path / name)) == files, name
    assert bulk.list_sources("file://" + str(tmp_path / "urls.parquet")) == files  # any pyarrow filesystem


def test_csv_and_parquet_inputs_and_a_parquet_directory_output(ray_cluster, photos, tmp_path, directory_rows):
    files = [str(p) for p in image_files(photos)][:6]
    expected = {row["source"]: row for row in directory_rows}
    (tmp_path / "in.csv").write_text("url,note\n" + "".join(f"{f},x\n" for f in files))
    pq.write_table(pa.table({"path": files}), tmp_path / "in.parquet")
    for name in ("in.csv", "in.parquet"):
        out = tmp_path / f"{name}-out/"
        assert run_bulk(tmp_path / name, str(out) + "/", batch_size=2) == (len(files), 0)
        rows = pq.read_table(out).to_pylist()
        assert sorted(row["source"] for row in rows) == sorted(files)
        assert all(row == expected[row["source"]] for row in rows)


def test_jsonl_output_is_the_record_shape(ray_cluster, photos, tmp_path, directory_rows):
    out = tmp_path / "scores.ndjson"
    files = image_files(photos)[:3]
    (tmp_path / "in.txt").write_text("".join(f"{f}\n" for f in files))
    assert run_bulk(tmp_path / "in.txt", out) == (3, 0)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [records.unflat(row) for row in directory_rows[:3]] == lines
    assert [records.flat(line) for line in lines] == directory_rows[:3]


# --- the command ----------------------------------------------------------------------------


def run_cli(*args, env=None, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "nsfw", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env
    )


def processes_with(marker: str) -> list[int]:
    """Processes whose environment carries ``marker``: everything a run started, Ray's and ours."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker.encode() in (proc / "environ").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                pass
    return found


def wait_for_no_processes(marker: str, timeout: float = 30) -> list[int]:
    """Processes still marked after ``timeout`` (Ray stops its workers asynchronously)."""
    deadline = time.monotonic() + timeout
    while (left := processes_with(marker)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left


def test_the_command_starts_its_own_ray_and_leaves_nothing_behind(mixed_list, httpserver, tmp_path, ray_tmpdir):
    listing, sources = mixed_list
    marker = f"NSFW_BULK_TEST_RUN={uuid.uuid4().hex}"
    env = environ(**allow_loopback(httpserver), **dict([marker.split("=")]))
    before = _repo_state()
    out = tmp_path / "out.parquet"
    done = run_cli("bulk", "--input", str(listing), "--output", str(out), "--batch-size", "2", env=env)
    assert done.returncode == 1, done.stderr  # some sources failed, the others were classified
    assert done.stdout == ""
    assert f"{len(sources)} sources, 3 classified, 4 failed" in done.stderr.splitlines()[-1]
    rows = read_rows(out)
    assert [row["source"] for row in rows] == sources
    assert [row["error_code"] for row in rows] == EXPECTED_CODES
    assert wait_for_no_processes(marker) == [], "the run left processes behind"
    assert _repo_state() == before, "the run wrote into the repository"
    assert list((ray_tmpdir / "ray").glob("session_*")), "Ray kept its session elsewhere (/tmp/ray?)"


def test_the_command_writes_the_same_scores_for_the_test_images(tmp_path):
    out = tmp_path / "scores.parquet"
    done = run_cli("bulk", "--input", "tests/data/images", "--output", str(out), "--quiet", env=environ())
    assert done.returncode == 0, done.stderr
    rows = read_rows(out)
    files = sorted(p.name for p in IMAGES.iterdir() if p.suffix in (".jpg", ".png"))
    assert [row["source"] for row in rows] == [f"tests/data/images/{name}" for name in files]
    expected = run_cli(*(row["source"] for row in rows), env=environ())
    for row, line in zip(rows, expected.stdout.splitlines()):
        assert {cls: row[cls] for cls in CLASSES} == {cls: json.loads(line)[cls] for cls in CLASSES}


def _repo_state() -> list[str]:
    """Every changed, new or ignored file of the checkout, bytecode caches aside."""
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all", "--ignored"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    return [line for line in status.splitlines() if "__pycache__" not in line and ".pytest_cache" not in line]


@pytest.mark.parametrize(
    "args, env, message",
    [
        (["--output", "x.parquet"], {}, "--input"),
        (["--input", "tests/data/images"], {}, "--output"),
        (["--input", "tests/data/images", "--output", "{tmp}/x.csv"], {}, "--format"),
        (["--input", "{tmp}/missing", "--output", "{tmp}/x.parquet"], {}, "no such file"),
        (["--input", "{tmp}/two.csv", "--output", "{tmp}/x.parquet"], {}, "no 'url' or 'path' column"),
        (["--input", "{tmp}/empty", "--output", "{tmp}/x.parquet"], {}, "no images"),
        (["--input", "tests/data/images", "--output", "{tmp}/full/"], {}, "not empty"),
        (["--input", "tests/data/images", "--output", "{tmp}/x.jsonl", "--model", "nope"], {}, "not served"),
        (["--input", "tests/data/images", "--output", "{tmp}/x.jsonl", "--batch-size", "0"], {}, "positive"),
        (["--input", "tests/data/images", "--output", "{tmp}/x.jsonl"], {"NSFW_MAX_BYTES": "lots"}, "NSFW_MAX_BYTES"),
        (["--input", "tests/data/images", "--output", "{tmp}/x.jsonl"], {"NSFW_MODEL_DIR": "/nonexistent"}, "model"),
    ],
    ids=[
        "no-input",
        "no-output",
        "unknown-output",
        "missing-input",
        "csv-without-column",
        "nothing-to-do",
        "full-output-dir",
        "unknown-model",
        "bad-batch",
        "bad-setting",
        "no-model-files",
    ],
)
def test_usage_errors_exit_2_before_starting_ray(args, env, message, tmp_path):
    (tmp_path / "two.csv").write_text("a,b\n1,2\n")
    (tmp_path / "empty").mkdir()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "old.parquet").write_text("")
    done = run_cli("bulk", *(a.replace("{tmp}", str(tmp_path)) for a in args), env=environ(**env), timeout=60)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "error" in done.stderr
    assert done.stdout == ""
    assert "Ray instance" not in done.stderr


def test_without_ray_installed_the_command_says_how_to_get_it(tmp_path):
    code = (
        "import sys; sys.modules['ray'] = None; from nsfw.cli import main; "
        f"sys.exit(main(['bulk', '--input', 'tests/data/images', '--output', {str(tmp_path / 'x.parquet')!r}]))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "pip install '.[bulk]'" in done.stderr


def test_importing_nsfw_and_its_cli_never_imports_ray():
    code = (
        "import sys, nsfw, nsfw.cli, nsfw.batch.bulk; from nsfw import create_app; create_app(); "
        "nsfw.cli._parser('nsfw'); print(sorted(m for m in sys.modules if m.split('.')[0] in ('ray', 'pyarrow')))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_help_names_the_inputs_outputs_and_exit_codes():
    done = run_cli("bulk", "--help", timeout=60)
    assert done.returncode == 0
    for needle in ("--address", "--concurrency", "--num-cpus", "--batch-size", ".parquet", ".jsonl", ".csv", ".txt"):
        assert needle in done.stdout, needle
    assert "bulk" in run_cli("--help", timeout=60).stdout


def test_unflat_reverses_flat():
    ok = {"source": "a.jpg", "model": "m", **dict.fromkeys(CLASSES, 0.2), "nsfw": 0.6, "verdict": "unknown", "top": "x"}
    ok["pdq"] = {"hash": "5a" * 32, "quality": 87}
    bad = records.failure("b.jpg", "unreadable", "gone")
    for record in (ok, bad):
        assert records.unflat(records.flat(record)) == record


def test_ray_is_an_extra_and_never_a_serving_dependency():
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    serving = {line.split("==")[0].strip().lower() for line in lines if "==" in line}
    assert not serving & {"ray", "pyarrow", "pandas"}
