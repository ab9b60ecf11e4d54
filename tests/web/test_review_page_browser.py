"""GET /review in Debian's chromium, against the service as deployed.

Real gunicorn, two workers sharing the master's session key, a SQLite queue: sign in, reveal,
decide with the keyboard, undo, and the next /v1/classify of the same bytes answers the
reviewer's verdict. Any console error, uncaught exception, CSP violation or request to another
origin fails a test. What the server decides in process is in test_review_page.py.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import time
from pathlib import Path

import gunicorn_helpers
import pytest
import requests
from gunicorn_helpers import free_port, stop
from helpers import IMAGES
from playwright.sync_api import Page

from nsfw.protect.keys import line_for

TOKENS = {"ann": "ann-token-0123456789-abcdefghij", "bob": "bob-token-0123456789-abcdefghij"}
CHELSEA = IMAGES / "chelsea.png"  # the model calls it safe (nsfw 0.07)
COFFEE = IMAGES / "coffee_224x224.png"
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.reportViolation(`${e.effectiveDirective} ${e.blockedURI}`);
});
"""


@dataclasses.dataclass
class Service:
    base: str

    def bearer(self, name: str = "ann") -> dict:
        return {"Authorization": f"Bearer {TOKENS[name]}"}


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """The service as deployed: gunicorn with two workers, so that requests land on either and the
    session key must be the one the master made for both (NSFW_SECRET_KEY unset); NSFW_REVIEW=all."""
    tmp = tmp_path_factory.mktemp("review-page")
    reviewers = tmp / "reviewers"
    reviewers.write_text("".join(line_for(name, token) + "\n" for name, token in TOKENS.items()))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "NSFW_SECRET_KEY"}
    env.update(
        WEB_CONCURRENCY="2",
        NSFW_REVIEW="all",
        NSFW_DATABASE_URL=f"sqlite:///{tmp / 'review.db'}",
        NSFW_REVIEWERS_FILE=str(reviewers),
        NSFW_TMP_DIR=str(tmp),
    )
    proc = gunicorn_helpers.start(env, port, "-b", f"127.0.0.1:{port}", timeout=60)
    yield Service(proc.base_url)
    log = stop(proc)
    assert proc.returncode == 0, log


def queue_images(service: Service, *paths: Path) -> list[int]:
    """Classify each image and wait until the queue (written off the request path) holds it; item ids in order."""
    ids = []
    for path in paths:
        data = path.read_bytes()
        response = requests.post(
            f"{service.base}/v1/classify", files={"image": (path.name, data, "image/png")}, timeout=30
        )
        assert response.status_code == 200, response.text
        sha256 = hashlib.sha256(data).hexdigest()
        for _ in range(300):  # the writer thread's pace, not a timing assertion
            page = requests.get(f"{service.base}/v1/review/items?limit=200", headers=service.bearer(), timeout=10)
            found = [item["id"] for item in page.json()["items"] if item["sha256"] == sha256]
            if found:
                ids += found
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"{path.name} never reached the queue")
    return ids


@pytest.fixture
def tab(browser, service):
    context = browser.new_context(viewport={"width": 1024, "height": 900})
    page = context.new_page()
    problems, requested = [], []
    page.on("console", lambda m: m.type in ("error", "warning") and problems.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"uncaught: {e}"))
    page.on("request", lambda r: requested.append(r.url))
    page.expose_function("reportViolation", lambda v: problems.append(f"CSP violation: {v}"))
    page.add_init_script(REPORT_VIOLATIONS)
    page.problems = problems
    yield page
    context.close()
    allowed = re.compile(r"Failed to load resource: the server responded with a status of 401")
    assert [p for p in problems if not allowed.search(p)] == []
    assert [u for u in requested if not u.startswith((f"{service.base}/", "data:"))] == []


def blur(page: Page) -> str:
    return page.eval_on_selector("#reveal img", "img => getComputedStyle(img).filter")


def settled(page: Page, revealed: bool) -> str:
    """The thumbnail's filter once its short transition has run: "none" when revealed."""
    page.wait_for_function(
        "(revealed) => { const f = getComputedStyle(document.querySelector('#reveal img')).filter;"
        " return revealed ? f === 'none' : f.startsWith('blur(24px)'); }",
        arg=revealed,
    )
    return blur(page)


def shown_item(page: Page) -> int:
    return int(page.get_attribute("#item", "data-item"))


@pytest.mark.slow
class TestInChromium:
    def test_sign_in_reveal_decide_with_keys_undo_and_the_service_remembers(self, tab, service):
        first, second = queue_images(service, CHELSEA, COFFEE)
        before = requests.post(
            f"{service.base}/v1/classify", files={"image": ("c.png", CHELSEA.read_bytes(), "image/png")}, timeout=30
        ).json()["results"][0]
        assert (before["verdict"], before["decided_by"]) == ("safe", "model")

        tab.goto(f"{service.base}/review")
        assert tab.url == f"{service.base}/review/sign-in"
        tab.fill("#token", TOKENS["ann"])
        tab.click("#sign-in")
        tab.wait_for_selector("#item")
        assert tab.inner_text("#reviewer-name") == "ann"
        assert shown_item(tab) == first
        tab.wait_for_function("() => document.querySelector('#reveal img').complete")
        assert tab.eval_on_selector("#reveal img", "img => img.naturalWidth") > 0  # the thumbnail loaded
        assert blur(tab).startswith("blur(24px)") and tab.get_attribute("#reveal", "aria-pressed") == "false"

        tab.click("#reveal")
        assert settled(tab, revealed=True) == "none" and tab.get_attribute("#reveal", "aria-pressed") == "true"
        tab.keyboard.press("r")
        assert settled(tab, revealed=False).startswith("blur(24px)")
        tab.keyboard.press("r")
        assert settled(tab, revealed=True) == "none"

        with tab.expect_navigation():
            tab.keyboard.press("a")
        assert shown_item(tab) == second  # the next item appears, blurred again
        assert blur(tab).startswith("blur(24px)")
        assert tab.inner_text("#last-decision") == f"Last decision: item {first}, adult."

        with tab.expect_navigation():
            tab.keyboard.press("u")
        assert shown_item(tab) == first  # undone: pending again, and shown
        assert not tab.query_selector("#undo")
        pending = requests.get(f"{service.base}/v1/review/items/{first}", headers=service.bearer(), timeout=10).json()
        assert pending["decision"] is None

        with tab.expect_navigation():
            tab.keyboard.press("a")
        decided = requests.get(f"{service.base}/v1/review/items/{first}", headers=service.bearer(), timeout=10).json()
        assert (decided["decision"], decided["decided_by"]) == ("adult", "ann")
        assert [(h["decision"], h["reviewer"]) for h in decided["history"]] == [
            ("adult", "ann"),
            (None, "ann"),
            ("adult", "ann"),
        ]
        # the same bytes, classified again (on either worker): the reviewer's verdict, the model's scores
        for _ in range(4):
            after = requests.post(
                f"{service.base}/v1/classify",
                files={"image": ("again.png", CHELSEA.read_bytes(), "image/png")},
                timeout=30,
            ).json()["results"][0]
            assert (after["verdict"], after["decided_by"]) == ("adult", "review")
            assert after["scores"] == before["scores"]

    def test_a_wrong_token_gets_no_page_and_no_thumbnail(self, tab, service):
        (item,) = queue_images(service, IMAGES / "drawing_flat.png")
        tab.goto(f"{service.base}/review/sign-in")
        tab.fill("#token", "not-a-reviewer-token")
        tab.click("#sign-in")
        tab.wait_for_selector("#sign-in-error")
        assert tab.url == f"{service.base}/review/sign-in"
        assert tab.query_selector("#item") is None
        tab.goto(f"{service.base}/review")
        assert tab.url == f"{service.base}/review/sign-in"
        thumbnail = tab.request.get(f"{service.base}/review/items/{item}/thumbnail")
        assert thumbnail.status == 401 and thumbnail.json()["error"]["code"] == "sign_in_required"

    def test_a_form_on_another_site_cannot_decide(self, browser, service, tab):
        """A page on another origin (here another port: cross-site for the cookie) posts the decision form."""
        (item,) = queue_images(service, IMAGES / "camera_gray.png")
        tab.goto(f"{service.base}/review/sign-in")
        tab.fill("#token", TOKENS["bob"])
        tab.click("#sign-in")
        tab.wait_for_selector("#item, #empty")
        attacker = tab.context.new_page()
        evil = f"http://localhost:{free_port()}"  # never contacted: the page is served by the route below
        attacker.route(
            f"{evil}/**",
            lambda route: route.fulfill(
                content_type="text/html",
                body=(
                    f'<form method="post" action="{service.base}/review/items/{item}/decision">'
                    '<input name="decision" value="adult"><input name="csrf" value="guess"></form>'
                ),
            ),
        )
        attacker.goto(f"{evil}/")
        with attacker.expect_navigation():
            attacker.eval_on_selector("form", "f => f.submit()")
        assert attacker.url.startswith(f"{service.base}/review/items/{item}/decision")
        # without its SameSite=Strict cookie the post has no session (and were it sent, no CSRF token)
        assert "sign_in_required" in attacker.content()
        attacker.close()
        now = requests.get(f"{service.base}/v1/review/items/{item}", headers=service.bearer(), timeout=10).json()
        assert now["decision"] is None

    def test_the_keyboard_reaches_every_control_with_a_visible_focus_and_k_skips(self, tab, service):
        queue_images(service, IMAGES / "retina.jpg", IMAGES / "astronaut_640x480.jpg")
        tab.goto(f"{service.base}/review/sign-in")
        tab.fill("#token", TOKENS["ann"])
        tab.keyboard.press("Enter")  # the form submits from the keyboard
        tab.wait_for_selector("#item")
        focused = "[document.activeElement.id, getComputedStyle(document.activeElement).outlineStyle]"
        controls = ["reveal", "decide-adult", "decide-safe", "skip"]
        reached = []
        while len(reached) < 20 and (not reached or reached[-1][0] != controls[-1]):
            tab.keyboard.press("Tab")
            reached.append(tab.evaluate(focused))
        assert [i for i, _ in reached if i in controls] == controls, reached
        assert all(style == "solid" for i, style in reached if i in controls), reached
        first = shown_item(tab)
        with tab.expect_navigation():
            tab.keyboard.press("k")
        assert shown_item(tab) != first  # skipped, not decided
        skipped = requests.get(f"{service.base}/v1/review/items/{first}", headers=service.bearer(), timeout=10)
        assert skipped.json()["decision"] is None

    def test_the_calibration_page_shows_its_plot(self, tab, service):
        tab.goto(f"{service.base}/review/sign-in")
        tab.fill("#token", TOKENS["ann"])
        tab.click("#sign-in")
        tab.wait_for_selector("#item, #empty")
        tab.click("text=Calibration")
        tab.wait_for_selector("#counts")
        tab.wait_for_function("() => document.getElementById('plot').complete")
        assert tab.eval_on_selector("#plot", "img => img.naturalWidth") == 1000
        assert "decided item" in tab.inner_text("#counts")
