"""Configuration: environment variables in, one validated Settings object out."""

from __future__ import annotations

import ipaddress

import pytest

from nsfw.settings import ConfigError, Settings, _cpu_count, cgroup_cpu_quota, pixels_for_memory


def test_defaults_without_environment():
    s = Settings.from_env({})
    assert s.fetch_timeout == 10.0
    assert s.max_bytes == 10 * 1024 * 1024
    assert s.fetch_allow_nets == ()
    assert s.fetch_allow_ports == {80, 443}
    assert s.max_redirects == 3
    # derived from the decoder's memory budget (448 MiB): still above a 48 MP phone photo
    assert s.decode_memory_mb == 448
    assert s.max_pixels == 50_331_648 > 8000 * 6000
    assert s.max_frames == 8
    assert s.decode_cpu_s == 2.0
    assert s.request_timeout == 15.0 < s.worker_timeout
    assert s.port == 8080
    assert (s.header_timeout, s.body_timeout) == (10.0, 5.0)


def test_pixel_cap_follows_the_memory_budget_unless_set():
    small = Settings.from_env({"NSFW_DECODE_MEMORY_MB": "128"})
    assert small.max_pixels == pixels_for_memory(128) == 8_388_608
    assert Settings.from_env({"NSFW_DECODE_MEMORY_MB": "128", "NSFW_MAX_PIXELS": "1000"}).max_pixels == 1000
    with pytest.raises(ConfigError, match="NSFW_DECODE_MEMORY_MB"):
        Settings.from_env({"NSFW_DECODE_MEMORY_MB": "32"})


def test_request_deadline_must_end_before_gunicorn_gives_up_on_the_worker():
    with pytest.raises(ConfigError, match="NSFW_REQUEST_TIMEOUT"):
        Settings.from_env({"NSFW_REQUEST_TIMEOUT": "30", "NSFW_WORKER_TIMEOUT": "30"})


def test_values_from_environment():
    s = Settings.from_env(
        {
            "NSFW_FETCH_TIMEOUT": "2.5",
            "NSFW_MAX_BYTES": "1000",
            "NSFW_FETCH_ALLOW_NETS": "127.0.0.0/8, ::1/128",
            "NSFW_FETCH_ALLOW_PORTS": "80,8000",
            "PORT": "9000",
            "WEB_CONCURRENCY": "3",
            "NSFW_HEADER_TIMEOUT": "2",
            "NSFW_BODY_TIMEOUT": "0.5",
            "NSFW_WEBHOOK_ALLOW_NETS": "10.0.0.5/32",
            "NSFW_WEBHOOK_ALLOW_PORTS": "9009",
        }
    )
    assert s.fetch_timeout == 2.5
    assert s.max_bytes == 1000
    assert s.fetch_allow_nets == (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
    assert s.fetch_allow_ports == {80, 8000}
    assert s.port == 9000
    assert s.workers == 3
    assert (s.header_timeout, s.body_timeout) == (2.0, 0.5)
    assert s.webhook_allow_nets == (ipaddress.ip_network("10.0.0.5/32"),) and s.webhook_allow_ports == {9009}


@pytest.mark.parametrize(
    "name, value",
    [
        ("NSFW_FETCH_TIMEOUT", "soon"),
        ("NSFW_FETCH_TIMEOUT", "0"),
        ("NSFW_FETCH_TIMEOUT", "nan"),
        ("NSFW_MAX_BYTES", "-1"),
        ("NSFW_FETCH_ALLOW_NETS", "127.0.0.1/33"),
        ("NSFW_FETCH_ALLOW_NETS", "localhost"),
        ("NSFW_FETCH_ALLOW_PORTS", "http"),
        ("NSFW_FETCH_ALLOW_PORTS", "70000"),
        ("NSFW_WEBHOOK_ALLOW_NETS", "localhost"),
        ("NSFW_WEBHOOK_ALLOW_PORTS", "0"),
        ("PORT", "0"),
        ("WEB_CONCURRENCY", "many"),
        ("NSFW_DECODE_CPU_S", "0"),
        ("NSFW_DECODERS", "0"),
        ("NSFW_QUEUE_DEPTH", "-1"),
        ("NSFW_MAX_DOWNLOADS", "0"),
        ("NSFW_REQUEST_TIMEOUT", "soon"),
        ("NSFW_HEADER_TIMEOUT", "0"),
        ("NSFW_BODY_TIMEOUT", "never"),
        ("NSFW_GRACEFUL_TIMEOUT", "0"),
        ("NSFW_GRACEFUL_TIMEOUT", "10"),  # must outlast NSFW_REQUEST_TIMEOUT (15)
        ("NSFW_LOG_FORMAT", "xml"),
        ("NSFW_LOG_LEVEL", "loud"),
        ("NSFW_LOG_FULL_URLS", "maybe"),
    ],
)
def test_bad_values_name_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_observability_settings():
    s = Settings.from_env({})
    assert (s.log_format, s.log_level, s.log_full_urls, s.metrics_token) == ("json", "info", False, None)
    assert s.graceful_timeout == 20  # NSFW_REQUEST_TIMEOUT + 5
    s = Settings.from_env(
        {
            "NSFW_LOG_FORMAT": "TEXT",
            "NSFW_LOG_LEVEL": "debug",
            "NSFW_LOG_FULL_URLS": "1",
            "NSFW_METRICS_TOKEN": "s3cret",
            "NSFW_REQUEST_TIMEOUT": "25",
            "NSFW_WORKER_TIMEOUT": "60",
        }
    )
    assert (s.log_format, s.log_level, s.log_full_urls, s.metrics_token) == ("text", "debug", True, "s3cret")
    assert s.graceful_timeout == 30  # follows a longer request deadline unless set
    assert Settings.from_env({"NSFW_GRACEFUL_TIMEOUT": "40"}).graceful_timeout == 40


# --- workers from the container's CPU quota ---------------------------------------------
def _cgroup(tmp_path, files: dict):
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return str(tmp_path)


@pytest.mark.parametrize(
    "files,quota",
    [
        ({"cpu.max": "max 100000\n"}, None),  # v2, unlimited
        ({"cpu.max": "100000 100000\n"}, 1.0),  # v2, one CPU
        ({"cpu.max": "150000 100000\n"}, 1.5),
        ({"cpu.max": "50000 100000\n"}, 0.5),
        ({"cpu,cpuacct/cpu.cfs_quota_us": "200000\n", "cpu,cpuacct/cpu.cfs_period_us": "100000\n"}, 2.0),  # v1
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),  # v1, unlimited
        ({"cpu.max": "garbage\n"}, None),
        ({"cpu.max": "100000 0\n"}, None),
        ({}, None),  # no cgroup files: not in a container, or not Linux
    ],
)
def test_cgroup_cpu_quota_is_read_from_v2_or_v1_files(tmp_path, files, quota):
    assert cgroup_cpu_quota(_cgroup(tmp_path, files)) == quota


def test_workers_follow_the_cpu_quota_not_the_hosts_cpus(tmp_path, monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(64)))  # a 64-core host
    assert _cpu_count(_cgroup(tmp_path / "one", {"cpu.max": "100000 100000\n"})) == 1
    assert _cpu_count(_cgroup(tmp_path / "half", {"cpu.max": "50000 100000\n"})) == 1
    assert _cpu_count(_cgroup(tmp_path / "one-and-a-half", {"cpu.max": "150000 100000\n"})) == 2
    assert _cpu_count(_cgroup(tmp_path / "unlimited", {"cpu.max": "max 100000\n"})) == 64
    assert _cpu_count(_cgroup(tmp_path / "above", {"cpu.max": "12800000 100000\n"})) == 64  # quota above the CPUs


def test_web_concurrency_still_wins_over_the_quota():
    assert Settings.from_env({"WEB_CONCURRENCY": "3"}).workers == 3
