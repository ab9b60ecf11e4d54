"""The fetcher's per-kind byte cap: the first bytes of a body choose it (videos have their own).

A real loopback server; ``cap_for`` stands for the Detector's rule (a body starting ``VIDEO``
gets the larger cap), so these tests need no video library.
"""

from __future__ import annotations

import ipaddress

import pytest
from werkzeug import Response

from nsfw.errors import TooLarge
from nsfw.fetch.body import SNIFF_BYTES
from nsfw.fetch.fetcher import Fetcher
from nsfw.settings import Settings

IMAGE_CAP, VIDEO_CAP = 1000, 5000


def cap_for(head):
    if head is None or head.startswith(b"VIDEO"):
        return VIDEO_CAP, "video"
    return IMAGE_CAP, "image"


@pytest.fixture
def fetcher(httpserver):
    settings = Settings().replace(
        fetch_allow_nets=(ipaddress.ip_network("127.0.0.1/32"),),
        fetch_allow_ports=frozenset({httpserver.port}),
        max_bytes=IMAGE_CAP,
        spool_bytes=1,
    )
    with Fetcher(settings) as fetcher:
        yield fetcher


def get(fetcher, httpserver, body: bytes, chunked: bool = False) -> bytes:
    path = f"/{len(httpserver.log)}"  # a path per request: handlers are kept for the whole test
    response = Response(iter([body[i : i + 100] for i in range(0, len(body), 100)]) if chunked else body)
    httpserver.expect_oneshot_request(path).respond_with_response(response)
    with fetcher.fetch(httpserver.url_for(path), cap_for=cap_for) as spool:
        return spool.read()


@pytest.mark.parametrize("chunked", [False, True])
def test_a_video_may_pass_the_image_cap_up_to_its_own(fetcher, httpserver, chunked):
    body = b"VIDEO" + b"v" * (VIDEO_CAP - 5)
    assert get(fetcher, httpserver, body, chunked) == body
    with pytest.raises(TooLarge, match="video is larger than 5000"):
        get(fetcher, httpserver, body + b"!", chunked)


@pytest.mark.parametrize("chunked", [False, True])
def test_an_image_keeps_the_image_cap_though_the_video_cap_is_larger(fetcher, httpserver, chunked):
    body = b"\xff\xd8\xff" + b"i" * (IMAGE_CAP - 3)
    assert get(fetcher, httpserver, body, chunked) == body
    with pytest.raises(TooLarge, match="image is larger than 1000"):
        get(fetcher, httpserver, body + b"!", chunked)


def test_a_body_shorter_than_the_sniffed_bytes_is_judged_at_its_end(fetcher, httpserver):
    assert SNIFF_BYTES > 10
    assert get(fetcher, httpserver, b"VIDEO12345") == b"VIDEO12345"


def test_a_declared_length_over_the_largest_cap_is_refused_before_the_body(fetcher, httpserver):
    response = Response(iter([b"VIDEO"]), headers={"Content-Length": str(VIDEO_CAP + 1)})
    httpserver.expect_request("/x").respond_with_response(response)
    with pytest.raises(TooLarge):
        with fetcher.fetch(httpserver.url_for("/x"), cap_for=cap_for):
            pass


def test_without_cap_for_the_image_cap_holds_for_everything(fetcher, httpserver):
    httpserver.expect_request("/x").respond_with_data(b"VIDEO" + b"v" * IMAGE_CAP)
    with pytest.raises(TooLarge):
        with fetcher.fetch(httpserver.url_for("/x")):
            pass
