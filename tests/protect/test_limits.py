"""Rate limits in images, per key or per client address, answered as 429 rate_limited with headers."""

from __future__ import annotations

import base64
import io
import ipaddress

import pytest
from flask import Flask

from nsfw.protect import keys
from nsfw.protect.limits import client_address
from nsfw.settings import ConfigError, Settings

BLOCKED = "http://10.0.0.1/a.png"  # refused before any connection: costs no network, still one image
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAFUlEQVR42mOM6jnBgA0wMeAAg1MCAFM9Ab4N7TEPAAAAAElFTkSuQmCC"
)


def remaining(response) -> int:
    return int(response.headers["RateLimit-Remaining"])


def test_over_the_limit_is_429_rate_limited_with_retry_after_and_ratelimit_headers(make_app):
    client = make_app(rate_limit="3/hour")
    answers = [client.get("/v1/models") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [remaining(a) for a in answers] == [2, 1, 0, 0]
    refused = answers[-1]
    assert refused.mimetype == "application/json"
    assert refused.json["error"]["code"] == "rate_limited"
    assert refused.headers["RateLimit-Limit"] == "3"
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600
    assert 0 <= int(refused.headers["RateLimit-Reset"]) <= 3600
    assert int(refused.headers["Retry-After"]) >= int(refused.headers["RateLimit-Reset"])


def test_every_limited_answer_carries_the_headers_and_open_routes_none(make_app):
    client = make_app(rate_limit="100/hour")
    limited = client.post("/predict")  # 400 missing_url: still counted, still told
    assert limited.status_code == 400
    assert limited.headers["RateLimit-Limit"] == "100" and remaining(limited) == 99
    for path in ("/health", "/openapi.json", "/docs"):
        response = client.get(path)
        assert response.status_code == 200
        assert "RateLimit-Limit" not in response.headers
    assert remaining(client.get("/v1/models")) == 98  # open routes spent nothing


def test_with_several_limits_the_headers_follow_the_one_closest_to_exhaustion(make_app):
    client = make_app(rate_limit="5/hour;3/day")  # the longer window is the tighter one here
    answers = [client.get("/v1/models") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert {a.headers["RateLimit-Limit"] for a in answers} == {"3"}
    assert [remaining(a) for a in answers] == [2, 1, 0, 0]


def test_open_routes_are_never_refused(make_app):
    client = make_app(rate_limit="1/hour")
    client.get("/v1/models")
    assert client.get("/v1/models").status_code == 429
    assert client.get("/health").status_code == 200
    assert client.get("/openapi.json").status_code == 200


def test_the_limit_is_shared_by_every_protected_route(make_app):
    client = make_app(rate_limit="2/hour")
    assert client.get("/v1/models").status_code == 200
    assert client.post("/predict").status_code == 400
    assert client.post("/compute").status_code == 429


@pytest.mark.parametrize("count", [1, 5, 16])
def test_a_json_batch_spends_one_unit_per_image(make_app, count):
    client = make_app(rate_limit="100/hour")
    response = client.post("/v1/classify", json={"urls": [BLOCKED] * count})
    assert response.status_code == 200
    assert remaining(response) == 100 - count


def test_base64_and_multipart_batches_spend_one_unit_per_image(make_app):
    client = make_app(rate_limit="100/hour")
    response = client.post("/v1/classify", json={"images": ["not base64!"] * 3})
    assert remaining(response) == 97
    files = {"image": [(io.BytesIO(PNG), f"{i}.png") for i in range(4)]}
    response = client.post("/v1/classify", data=files, content_type="multipart/form-data")
    assert response.status_code == 200, response.json
    assert remaining(response) == 93
    response = client.post("/v1/classify", data=PNG, content_type="image/png")
    assert remaining(response) == 92


def test_a_16_image_batch_is_refused_when_fewer_units_are_left(make_app):
    client = make_app(rate_limit="20/hour")
    assert remaining(client.post("/v1/classify", json={"urls": [BLOCKED] * 16})) == 4
    refused = client.post("/v1/classify", json={"urls": [BLOCKED] * 5})
    assert refused.status_code == 429 and refused.json["error"]["code"] == "rate_limited"
    assert client.post("/v1/classify", json={"urls": [BLOCKED] * 4}).status_code == 200


def test_an_oversized_batch_spends_at_most_the_largest_allowed_one(make_app):
    client = make_app(rate_limit="100/hour", max_batch=16)
    response = client.post("/v1/classify", json={"urls": [BLOCKED] * 1000})
    assert response.status_code == 413 and response.json["error"]["code"] == "batch_too_large"
    assert remaining(response) == 84


def test_a_malformed_body_spends_one_unit_and_fails_as_before(make_app):
    client = make_app(rate_limit="100/hour")
    deep = client.post("/v1/classify", data="[" * 100000, content_type="application/json")
    assert deep.status_code == 400 and deep.json["error"]["code"] == "invalid_request"
    assert remaining(deep) == 99


def test_each_key_has_its_own_budget(make_app, tmp_path):
    alice, bob = keys.new_key(), keys.new_key()
    path = tmp_path / "keys.txt"
    path.write_text(f"{keys.line_for('alice', alice)}\n{keys.line_for('bob', bob)}\n")
    client = make_app(rate_limit="2/hour", api_keys_file=str(path))
    for _ in range(2):
        assert client.get("/v1/models", headers={"X-API-Key": alice}).status_code == 200
    assert client.get("/v1/models", headers={"X-API-Key": alice}).status_code == 429
    assert client.get("/v1/models", headers={"X-API-Key": bob}).status_code == 200
    # an unauthenticated request is refused before it is counted
    assert client.get("/v1/models").status_code == 401


def test_x_forwarded_for_is_ignored_unless_the_proxy_is_trusted(make_app):
    client = make_app(rate_limit="2/hour")
    for address in ("203.0.113.1", "203.0.113.2"):
        assert client.get("/v1/models", headers={"X-Forwarded-For": address}).status_code == 200
    assert client.get("/v1/models", headers={"X-Forwarded-For": "203.0.113.3"}).status_code == 429


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget(make_app):
    client = make_app(rate_limit="1/hour", trusted_proxies=(ipaddress.ip_network("127.0.0.0/8"),))
    assert client.get("/v1/models", headers={"X-Forwarded-For": "203.0.113.1"}).status_code == 200
    assert client.get("/v1/models", headers={"X-Forwarded-For": "203.0.113.1"}).status_code == 429
    assert client.get("/v1/models", headers={"X-Forwarded-For": "203.0.113.2"}).status_code == 200
    # what the client wrote itself, left of the proxy's entry, does not buy a new budget
    spoofed = {"X-Forwarded-For": "198.51.100.7, 203.0.113.2"}
    assert client.get("/v1/models", headers=spoofed).status_code == 429


@pytest.mark.parametrize(
    "peer, forwarded, trusted, expected",
    [
        ("192.0.2.9", "203.0.113.1", (), "192.0.2.9"),
        ("192.0.2.9", "203.0.113.1", ("10.0.0.0/8",), "192.0.2.9"),  # the peer is no proxy of ours
        ("10.0.0.2", "203.0.113.1", ("10.0.0.0/8",), "203.0.113.1"),
        ("10.0.0.2", "198.51.100.7, 203.0.113.1, 10.0.0.5", ("10.0.0.0/8",), "203.0.113.1"),
        ("10.0.0.2", "10.0.0.7, 10.0.0.5", ("10.0.0.0/8",), "10.0.0.7"),
        ("10.0.0.2", "", ("10.0.0.0/8",), "10.0.0.2"),
        ("10.0.0.2", "junk, 203.0.113.1", ("10.0.0.0/8",), "203.0.113.1"),
        ("10.0.0.2", "203.0.113.1, junk", ("10.0.0.0/8",), "10.0.0.2"),
        ("::1", "2001:db8::1", ("::1/128",), "2001:db8::1"),
    ],
)
def test_client_address(peer, forwarded, trusted, expected):
    networks = tuple(ipaddress.ip_network(n) for n in trusted)
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    with Flask("t").test_request_context(headers=headers, environ_base={"REMOTE_ADDR": peer}):
        assert client_address(networks) == expected


def test_settings_read_and_check_the_protection_variables():
    settings = Settings.from_env(
        {
            "NSFW_API_KEYS_FILE": "/etc/nsfw/keys",
            "NSFW_RATE_LIMIT": "600/minute;20/second",
            "NSFW_RATE_LIMIT_STORAGE": "redis://redis:6379/1",
            "NSFW_RATE_LIMIT_FAIL": "closed",
            "NSFW_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.1",
            "NSFW_CACHE_URL": "redis://redis:6379/2",
            "NSFW_CACHE_TTL": "3600",
        }
    )
    assert settings.api_keys_file == "/etc/nsfw/keys"
    assert settings.rate_limit == "600/minute;20/second"
    assert settings.rate_limit_storage == "redis://redis:6379/1" and settings.rate_limit_fail == "closed"
    assert settings.trusted_proxies == (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("192.168.1.1/32"))
    assert settings.cache_url == "redis://redis:6379/2" and settings.cache_ttl == 3600
    defaults = Settings.from_env({})
    assert (defaults.api_keys_file, defaults.rate_limit, defaults.cache_url) == (None, None, None)
    assert defaults.rate_limit_storage == "memory://" and defaults.rate_limit_fail == "open"


@pytest.mark.parametrize(
    "name, value",
    [
        ("NSFW_RATE_LIMIT", "many"),
        ("NSFW_RATE_LIMIT", "10/fortnight"),
        ("NSFW_RATE_LIMIT_STORAGE", "postgres://db"),
        ("NSFW_RATE_LIMIT_FAIL", "sometimes"),
        ("NSFW_TRUSTED_PROXIES", "the load balancer"),
        ("NSFW_RATE_LIMIT_STORAGE", "unix:///run/redis.sock"),  # the limits library spells it redis+unix://
        ("NSFW_CACHE_URL", "memcached://cache:11211"),
        ("NSFW_CACHE_URL", "redis+unix:///run/redis.sock"),  # redis-py spells it unix://
        ("NSFW_CACHE_TTL", "0"),
    ],
)
def test_bad_protection_values_name_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})
