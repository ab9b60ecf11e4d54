"""The JS client in a real browser (Debian's chromium): a File and a URL, from a page of the service's origin.

The service sends no CORS headers, so a browser client runs on a page of the service's own origin
(behind the same proxy, say). Playwright answers the test page and the package's files at that
origin; /v1/classify and /health go to the real service.
"""

from __future__ import annotations

import base64

import client_helpers
import pytest
from client_helpers import ADULT, ROOT

pytestmark = pytest.mark.slow
service = client_helpers.service
image_server = client_helpers.image_server

SOURCES = ROOT / "clients" / "js" / "src"
SCRIPT = """async ([png, url]) => {
    const { APIError, Client } = await import("/__nsfw_client/index.js");
    const client = new Client({ baseUrl: location.origin });
    const bytes = Uint8Array.from(atob(png), (c) => c.charCodeAt(0));
    const byFile = await client.classify(new File([bytes], "chelsea.png", { type: "image/png" }));
    const byUrl = await client.classify(url);
    const error = await client.classify(new Uint8Array([1, 2, 3])).catch((e) => e);
    const many = await client.classifyMany([url, new Blob([bytes])]);
    return {
        file: [byFile.verdict, byFile.source],
        url: byUrl.verdict,
        error: [error.constructor.name, error.code, error instanceof APIError, Boolean(error.requestId)],
        many: many.map((r) => r.verdict),
        health: await client.health(),
    };
}"""


def test_the_js_client_in_a_browser(browser, service: str, image_server) -> None:
    page = browser.new_page()
    try:
        page.route(
            f"{service}/__nsfw_client/*",
            lambda route: route.fulfill(
                path=SOURCES / route.request.url.rsplit("/", 1)[1], content_type="text/javascript"
            ),
        )
        page.route(
            f"{service}/__test.html",
            lambda route: route.fulfill(body="<!DOCTYPE html><title>test</title>", content_type="text/html"),
        )
        page.goto(f"{service}/__test.html")
        answer = page.evaluate(
            SCRIPT, [base64.b64encode(ADULT.read_bytes()).decode(), image_server.url_for("/unknown.png")]
        )
    finally:
        page.close()
    assert answer == {
        "file": ["adult", "chelsea.png"],
        "url": "unknown",
        "error": ["UnsupportedMedia", "unsupported_media", True, True],
        "many": ["unknown", "adult"],
        "health": True,
    }
