"""API keys: 401 without a valid one, open routes stay open, the keys file is checked at start."""

from __future__ import annotations

import logging

import pytest
from flask import g

from nsfw import create_app
from nsfw.cli import main
from nsfw.protect import keys
from nsfw.settings import ConfigError
from nsfw.web import current

PROTECTED = [("get", "/v1/models"), ("post", "/predict"), ("post", "/v1/classify"), ("post", "/compute")]


@pytest.fixture
def key():
    return keys.new_key()


@pytest.fixture
def keys_file(tmp_path, key):
    path = tmp_path / "keys.txt"
    path.write_text(f"# clients of this instance\n\n{keys.line_for('alice', key)}\n  \n")
    return path


@pytest.fixture
def keyed_app(settings, keys_file):
    app = create_app(settings.replace(api_keys_file=str(keys_file)))
    seen = []

    @app.after_request
    def remember_client(response):
        seen.append(g.get("client_name"))
        return response

    app.seen_clients = seen
    yield app
    current.detector(app).close()


@pytest.fixture
def keyed(keyed_app):
    return keyed_app.test_client()


@pytest.mark.parametrize("method, path", PROTECTED)
def test_no_key_is_401_json_with_www_authenticate(keyed, method, path):
    response = getattr(keyed, method)(path)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="nsfw"'
    assert response.mimetype == "application/json"
    assert response.json["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-Key": "not-the-key"},
        {"Authorization": "Bearer not-the-key"},
        {"Authorization": "Basic YWxpY2U6c2VjcmV0"},
        {"Authorization": "Bearer "},
        {"X-API-Key": ""},
    ],
)
def test_a_wrong_or_malformed_key_is_401(keyed, headers):
    response = keyed.get("/v1/models", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="nsfw"'
    assert response.json["error"]["code"] == "unauthorized"


def test_the_digest_itself_is_not_a_key(keyed, key):
    response = keyed.get("/v1/models", headers={"X-API-Key": keys.digest(key)})
    assert response.status_code == 401


@pytest.mark.parametrize("form", ["bearer", "x-api-key"])
def test_both_header_forms_are_accepted_and_name_the_client(keyed, keyed_app, key, form):
    headers = {"Authorization": f"Bearer {key}"} if form == "bearer" else {"X-API-Key": key}
    response = keyed.get("/v1/models", headers=headers)
    assert response.status_code == 200, response.json
    assert keyed_app.seen_clients == ["alice"]


def test_the_bearer_scheme_is_case_insensitive(keyed, key):
    assert keyed.get("/v1/models", headers={"Authorization": f"bearer {key}"}).status_code == 200


def test_a_keyed_classification_works(keyed, key, httpserver):
    from helpers import IMAGES

    httpserver.expect_request("/a.png").respond_with_data(
        (IMAGES / "chelsea.png").read_bytes(), content_type="image/png"
    )
    response = keyed.post("/predict", query_string={"url": httpserver.url_for("/a.png")}, headers={"X-API-Key": key})
    assert response.status_code == 200, response.json
    assert response.json["neutral"] > 0.5


@pytest.mark.parametrize(
    "path",
    [
        "/health",
        "/ready",
        "/openapi.json",
        "/docs",
        "/docs/swagger-ui.css",
        "/metrics",
        "/",
        "/assets/page.js",
        "/assets/page.css",
        "/nothing-here",
    ],
)
def test_open_routes_need_no_key(keyed, keyed_app, path):
    response = keyed.get(path)
    assert response.status_code != 401, path  # /ready may be 503 (no model yet), unknown paths 404
    assert "WWW-Authenticate" not in response.headers
    assert keyed_app.seen_clients == [None]


def test_keys_file_lines_with_several_entries_and_rotation(tmp_path, settings):
    old, new, other = keys.new_key(), keys.new_key(), keys.new_key()
    path = tmp_path / "keys.txt"
    lines = [keys.line_for("alice", old), keys.line_for("alice", new), keys.line_for("bob", other)]
    path.write_text("\n".join(lines) + "\n")
    key_set = keys.load_api_keys(str(path))
    assert [key_set.name_of(k) for k in (old, new, other, "nobody")] == ["alice", "alice", "bob", None]


@pytest.mark.parametrize(
    "content, line",
    [
        ("alice\n", 1),
        ("# ok\nalice:abc\n", 2),
        ("alice:" + "A" * 64 + "\n", 1),  # upper-case hex: not what keygen writes
        ("\n\nbad name:" + "a" * 64 + "\n", 3),
        ("alice:" + "a" * 64 + " trailing\n", 1),
    ],
)
def test_a_malformed_line_stops_start_up_naming_file_and_line(tmp_path, settings, content, line):
    path = tmp_path / "keys.txt"
    path.write_text(content)
    with pytest.raises(ConfigError) as caught:
        create_app(settings.replace(api_keys_file=str(path)))
    message = str(caught.value)
    assert str(path) in message and f"line {line}" in message
    assert content.strip().splitlines()[-1] not in message  # the line is never echoed: it may be a key


def test_a_pasted_key_is_not_echoed(tmp_path):
    secret = keys.new_key()
    path = tmp_path / "keys.txt"
    path.write_text(f"alice:{secret}\n")
    with pytest.raises(ConfigError) as caught:
        keys.load_api_keys(str(path))
    assert secret not in str(caught.value)


def test_a_missing_or_empty_keys_file_stops_start_up(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        keys.load_api_keys(str(tmp_path / "absent.txt"))
    (tmp_path / "empty.txt").write_text("# nobody yet\n")
    with pytest.raises(ConfigError, match="holds no key"):
        keys.load_api_keys(str(tmp_path / "empty.txt"))


def test_without_keys_access_is_open_with_one_warning_at_start(settings, caplog):
    caplog.set_level(logging.WARNING, logger="nsfw.protect")
    app = create_app(settings)
    try:
        client = app.test_client()
        for _ in range(3):
            assert client.get("/v1/models").status_code == 200
    finally:
        current.detector(app).close()
    warnings = [r for r in caplog.records if r.name == "nsfw.protect"]
    assert len(warnings) == 1 and "NSFW_API_KEYS_FILE" in warnings[0].getMessage()


def test_without_keys_or_limits_no_hook_is_added(settings):
    app = create_app(settings)
    try:
        hooks = [f for funcs in app.before_request_funcs.values() for f in funcs]
        hooks += [f for funcs in app.after_request_funcs.values() for f in funcs]
        assert not [f for f in hooks if f.__module__.startswith("nsfw.protect")]
        assert "limiter" not in app.extensions
    finally:
        current.detector(app).close()


def test_keygen_prints_a_key_and_its_line_that_work_end_to_end(capsys, tmp_path, settings):
    assert main(["keygen", "ci-bot"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("key: ") and out[1].startswith("line: ci-bot:")
    key, line = out[0].removeprefix("key: "), out[1].removeprefix("line: ")
    assert len(key) >= 43 and key not in line
    path = tmp_path / "keys.txt"
    path.write_text(line + "\n")
    app = create_app(settings.replace(api_keys_file=str(path)))
    try:
        client = app.test_client()
        assert client.get("/v1/models", headers={"Authorization": f"Bearer {key}"}).status_code == 200
        assert client.get("/v1/models").status_code == 401
    finally:
        current.detector(app).close()


def test_keygen_makes_a_new_key_each_time(capsys):
    main(["keygen", "a"])
    main(["keygen", "a"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] != lines[2] and lines[1] != lines[3]


def test_keygen_refuses_a_name_the_file_could_not_hold(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["keygen", "two words"])
    assert caught.value.code == 2
    assert "key name" in capsys.readouterr().err
