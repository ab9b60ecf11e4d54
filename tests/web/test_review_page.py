"""GET /review and /review/calibration: reviewers only, CSRF-proof and strict.

In process (Flask's test client) for what the server decides: who gets a page or a thumbnail, the
cookie's flags, CSRF refusals, what a decision and an undo record, the calibration's three formats.
The page as deployed, in Debian's chromium, is tested in test_review_page_browser.py.
"""

from __future__ import annotations

import io
import logging
import os
import re
import sys
import time
import types
from html.parser import HTMLParser
from pathlib import Path

import pytest
import review_helpers
from helpers import IMAGES
from PIL import Image

from nsfw import create_app
from nsfw.protect.keys import line_for
from nsfw.review.store import Sighting
from nsfw.settings import ConfigError, Settings
from nsfw.web import current
from nsfw.web.headers import PAGE_POLICY
from nsfw.web.review import frame as review_frame
from nsfw.web.review import session as review_session

TOKENS = {"ann": "ann-token-0123456789-abcdefghij", "bob": "bob-token-0123456789-abcdefghij"}
CHELSEA = IMAGES / "chelsea.png"  # the model calls it safe (nsfw 0.07)
COFFEE = IMAGES / "coffee_224x224.png"


def scores_for(nsfw: float) -> dict:
    return {"drawings": 0.0, "hentai": 0.0, "neutral": 1.0 - nsfw, "porn": nsfw, "sexy": 0.0}


@pytest.fixture
def reviewers_file(tmp_path) -> str:
    path = tmp_path / "reviewers"
    path.write_text("".join(line_for(name, token) + "\n" for name, token in TOKENS.items()))
    return str(path)


@pytest.fixture
def review_settings(settings, tmp_path, reviewers_file):
    # review_lookup_timeout: these tests are not about a slow database (tests/review/test_stall.py is); on a
    # loaded machine a 0.25 s lookup budget opened the breaker and the next sighting was not queued
    return settings.replace(
        review="all",
        database_url=f"sqlite:///{tmp_path / 'review.db'}",
        reviewers_file=reviewers_file,
        review_lookup_timeout=5.0,
    )


@pytest.fixture
def review_app(review_settings):
    app = create_app(review_settings)
    yield app
    current.detector(app).close()  # the review queue with it


@pytest.fixture
def review(review_app):
    return current.review_or_none(review_app)


@pytest.fixture
def anon(review_app):
    return review_app.test_client()


def classify(client, path: Path) -> dict:
    response = client.post("/v1/classify", data={"image": (io.BytesIO(path.read_bytes()), path.name)})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["results"][0]


@pytest.fixture
def queued(anon, review):
    """Two images classified and queued (oldest first: chelsea, then coffee); their item ids."""
    for path in (CHELSEA, COFFEE):
        classify(anon, path)
        review.flush()
    items = review.store.items(status="pending", limit=10).items
    assert len(items) == 2
    return [item.id for item in items]


def sign_in(client, name: str = "ann", token: str | None = None, **kwargs):
    """The form as a browser sends it: fetched first (its CSRF token), then posted."""
    return review_helpers.sign_in(client, TOKENS[name] if token is None else token, **kwargs)


@pytest.fixture
def ann(review_app):
    client = review_app.test_client()
    assert sign_in(client).status_code == 303
    return client


def csrf_of(client) -> str:
    html = client.get("/review").get_data(as_text=True)
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


class Markup(HTMLParser):
    """What a strict CSP cares about: inline scripts, styles and handlers, and every URL."""

    def __init__(self):
        super().__init__()
        self.inline, self.urls = [], []
        self._script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.inline += [f"<{tag} style>"] if "style" in attrs or tag == "style" else []
        self.inline += [f"<{tag} {a}>" for a in attrs if a.startswith("on")]
        self.inline += ["<script> without src"] if tag == "script" and not attrs.get("src") else []
        self.urls += [attrs[a] for a in ("src", "href", "action") if attrs.get(a)]


def assert_strict_page(response) -> str:
    assert response.mimetype == "text/html"
    assert response.headers["Content-Security-Policy"] == PAGE_POLICY
    assert "no-store" in response.headers["Cache-Control"]
    html = response.get_data(as_text=True)
    markup = Markup()
    markup.feed(html)
    assert markup.inline == []
    assert [u for u in markup.urls if "//" in u or not (u.startswith("/review") or u.startswith("data:"))] == []
    return html


# --- who gets in ----------------------------------------------------------------------------
def test_without_a_session_the_page_sends_a_browser_to_the_sign_in_form(anon, queued):
    response = anon.get("/review")
    assert response.status_code == 303 and response.headers["Location"] == "/review/sign-in"
    assert anon.get("/review/calibration").status_code == 303
    html = assert_strict_page(anon.get("/review/sign-in"))
    assert 'name="token"' in html and 'type="password"' in html and "thumbnail" not in html


def session_of(client) -> dict:
    """What the client's session cookie holds (signed by the app: read with its own serializer)."""
    app = client.application
    cookie = client.get_cookie("nsfw_review", path="/review")
    return {} if cookie is None else dict(app.session_interface.get_signing_serializer(app).loads(cookie.value))


def test_a_wrong_token_gets_no_page_no_thumbnail_and_no_numbers(anon, queued):
    response = sign_in(anon, token="not-a-reviewer-token")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="nsfw-review"'
    assert "not a reviewer" in assert_strict_page(response)
    assert set(session_of(anon)) <= {"csrf"}  # the sign-in form's CSRF token, never a reviewer
    assert anon.get("/review").status_code == 303
    for url in (f"/review/items/{queued[0]}/thumbnail", "/review/calibration?format=json"):
        refused = anon.get(url)
        assert refused.status_code == 401 and refused.get_json()["error"]["code"] == "sign_in_required", url
    assert sign_in(anon, token="").status_code == 401


def test_an_api_key_or_bearer_header_is_not_a_session(anon, queued):
    """The page knows only its cookie: a reviewer's token as a header opens the API, not the page."""
    headers = {"Authorization": f"Bearer {TOKENS['ann']}"}
    assert anon.get("/review", headers=headers).status_code == 303
    assert anon.get(f"/review/items/{queued[0]}/thumbnail", headers=headers).status_code == 401


def test_the_session_cookie_is_httponly_strict_scoped_and_secure_on_https(review_app):
    client = review_app.test_client()
    cookie = sign_in(client).headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/review" in cookie
    assert "Secure" not in cookie  # plain http: a Secure cookie would never come back
    assert TOKENS["ann"] not in cookie
    https = review_app.test_client()
    assert "; Secure" in sign_in(https, base_url="https://localhost").headers["Set-Cookie"]


def test_behind_a_trusted_proxy_x_forwarded_proto_https_makes_the_cookie_secure(review_settings):
    import ipaddress

    trusted = review_settings.replace(trusted_proxies=(ipaddress.ip_network("127.0.0.0/8"),))
    app = create_app(trusted)
    try:
        client = app.test_client()
        forwarded = {"X-Forwarded-Proto": "https"}
        assert "; Secure" in sign_in(client, headers=forwarded).headers["Set-Cookie"]
    finally:
        current.detector(app).close()
    app = create_app(review_settings)  # the same header from anyone else is not believed
    try:
        assert "; Secure" not in sign_in(app.test_client(), headers=forwarded).headers["Set-Cookie"]
    finally:
        current.detector(app).close()


def test_a_session_lasts_its_hours_and_only_where_the_key_is_shared(review_app, review_settings, queued):
    client = review_app.test_client()
    sign_in(client)
    cookie = client.get_cookie("nsfw_review", path="/review").value
    serializer = review_app.session_interface.get_signing_serializer(review_app)
    data = serializer.loads(cookie)
    expired = dict(data, since=data["since"] - review_session.SESSION_HOURS * 3600 - 1)
    client.set_cookie("nsfw_review", serializer.dumps(expired), path="/review")
    assert client.get("/review").status_code == 303

    # another instance (same database) with another key does not know the cookie; with the same key it does
    for secret, status in (("another-secret-of-at-least-32-characters", 303), (review_app.secret_key, 200)):
        other = create_app(review_settings.replace(secret_key=secret))
        try:
            visitor = other.test_client()
            visitor.set_cookie("nsfw_review", cookie, path="/review")
            assert visitor.get("/review").status_code == status
        finally:
            current.detector(other).close()


def test_with_review_off_there_is_no_review_page(make_app):
    client = make_app()
    for method, url in (("get", "/review/sign-in"), ("post", "/review/sign-in")):
        response = getattr(client, method)(url)
        assert response.status_code == 404 and response.get_json()["error"]["code"] == "review_disabled"


def test_with_api_keys_on_reviewers_need_no_api_key(review_settings, tmp_path, queued):
    keys = tmp_path / "keys"
    keys.write_text(line_for("client", "client-key-0123456789") + "\n")
    app = create_app(review_settings.replace(api_keys_file=str(keys)))
    try:
        client = app.test_client()
        assert sign_in(client).status_code == 303
        assert client.get("/review").status_code == 200
        assert client.get("/review/assets/review.js").status_code == 200
    finally:
        current.detector(app).close()


def test_the_gunicorn_master_makes_one_session_key_for_all_its_workers(monkeypatch, tmp_path):
    """Without NSFW_SECRET_KEY, workers (forked after on_starting) inherit the master's key; a set one is kept."""
    from nsfw.server import gunicorn_conf

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setenv("NSFW_SECRET_KEY", "")  # restored (unset) after the test
    cfg = types.SimpleNamespace(address=[], reuse_port=False)  # no address to check here
    server = types.SimpleNamespace(log=logging.getLogger("test"), cfg=cfg, pidfile=None)
    gunicorn_conf.on_starting(server)
    made = os.environ["NSFW_SECRET_KEY"]
    assert len(made) >= 32 and Settings.from_env().secret_key == made
    gunicorn_conf.on_starting(server)  # a second start (a reload) keeps it: sign-ins survive
    assert os.environ["NSFW_SECRET_KEY"] == made
    monkeypatch.setenv("NSFW_SECRET_KEY", "the-operators-own-key-0123456789abcdef")
    gunicorn_conf.on_starting(server)
    assert os.environ["NSFW_SECRET_KEY"] == "the-operators-own-key-0123456789abcdef"


def test_a_short_secret_key_stops_start_up():
    with pytest.raises(ConfigError, match="NSFW_SECRET_KEY must be at least 32 characters"):
        Settings.from_env({"NSFW_SECRET_KEY": "too-short"})


# --- the page ---------------------------------------------------------------------------------
def test_the_page_shows_the_oldest_pending_item_with_its_facts(ann, review, queued):
    html = assert_strict_page(ann.get("/review"))
    item = review.store.get(queued[0])
    assert f'data-item="{item.id}"' in html
    assert 'class="thumb blurred"' in html and f"/review/items/{item.id}/thumbnail" in html
    for name, value in item.scores.items():
        assert f'id="score-{name}"' in html and f"{value * 100:.2f}%" in html
    assert '<dd id="seen-count">1 time</dd>' in html
    assert item.first_seen.strftime("%Y-%m-%d %H:%M UTC") in html
    assert 'id="reviewer-name">ann<' in html
    for button in ("decide-adult", "decide-safe", "skip"):
        assert f'id="{button}"' in html
    assert 'id="undo"' not in html  # nothing decided in this session yet


def test_most_seen_first_and_skip(anon, ann, review, queued):
    classify(anon, COFFEE)  # coffee seen twice now
    review.flush()
    html = ann.get("/review?order=most_seen").get_data(as_text=True)
    assert f'data-item="{queued[1]}"' in html and '<dd id="seen-count">2 times</dd>' in html
    skip = re.search(r'name="cursor" value="([^"]+)"', html.split('class="skip"')[1]).group(1)
    after = ann.get(f"/review?order=most_seen&cursor={skip}").get_data(as_text=True)
    assert f'data-item="{queued[0]}"' in after
    assert 'id="skip" class="secondary" aria-keyshortcuts="k" disabled' in after  # the last one


@pytest.mark.parametrize(
    "query, code",
    [
        ("order=newest", "invalid_review_query"),
        ("cursor=garbage", "invalid_cursor"),
        ("item=x", "invalid_review_query"),
        ("item=%C2%B2", "invalid_review_query"),
    ],
)
def test_bad_query_parameters_are_json_400s(ann, queued, query, code):
    response = ann.get(f"/review?{query}")
    assert response.status_code == 400 and response.get_json()["error"]["code"] == code


def test_thumbnails_are_served_to_reviewers_and_never_cached(ann, queued):
    response = ann.get(f"/review/items/{queued[0]}/thumbnail")
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    assert "no-store" in response.headers["Cache-Control"] and "private" in response.headers["Cache-Control"]
    with Image.open(io.BytesIO(response.data)) as image:
        assert image.format == "JPEG" and max(image.size) <= 160
    missing = ann.get("/review/items/999999/thumbnail")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "review_item_not_found"


def test_a_decision_records_the_reviewer_and_undo_takes_it_back(ann, anon, review, queued):
    first, second = queued
    csrf = csrf_of(ann)
    response = ann.post(f"/review/items/{first}/decision", data={"decision": "adult", "csrf": csrf, "order": "oldest"})
    assert response.status_code == 303 and response.headers["Location"] == "/review?order=oldest"
    item = review.store.get(first)
    assert (item.decision, item.decided_by) == ("adult", "ann")
    page = ann.get("/review").get_data(as_text=True)
    assert f'data-item="{second}"' in page and f"Last decision: item {first}, adult." in page
    assert classify(anon, CHELSEA)["decided_by"] == "review"

    undone = ann.post("/review/undo", data={"csrf": csrf, "order": "oldest"})
    assert undone.status_code == 303 and undone.headers["Location"] == f"/review?order=oldest&item={first}"
    assert review.store.get(first).decision is None
    assert [(d.decision, d.reviewer) for d in review.store.history(first)] == [("adult", "ann"), (None, "ann")]
    assert f'data-item="{first}"' in ann.get(undone.headers["Location"]).get_data(as_text=True)
    nothing = ann.post("/review/undo", data={"csrf": csrf})
    assert nothing.status_code == 409 and nothing.get_json()["error"]["code"] == "nothing_to_undo"
    assert classify(anon, CHELSEA)["decided_by"] == "model"


def test_a_decision_can_be_changed_and_each_reviewer_is_recorded(review_app, ann, review, queued):
    bob = review_app.test_client()
    sign_in(bob, "bob")
    ann.post(f"/review/items/{queued[0]}/decision", data={"decision": "adult", "csrf": csrf_of(ann)})
    bob.post(f"/review/items/{queued[0]}/decision", data={"decision": "safe", "csrf": csrf_of(bob)})
    assert [(d.decision, d.reviewer) for d in review.store.history(queued[0])] == [("adult", "ann"), ("safe", "bob")]
    assert review.store.get(queued[0]).decided_by == "bob"


@pytest.mark.parametrize(
    "form, headers",
    [
        ({"decision": "adult"}, {}),  # no token
        ({"decision": "adult", "csrf": "forged"}, {}),  # a wrong one
        ({"decision": "adult", "csrf": None}, {"Sec-Fetch-Site": "cross-site"}),  # the right one, from elsewhere
        ({"decision": "adult", "csrf": None}, {"Sec-Fetch-Site": "same-site"}),  # a sibling subdomain
    ],
    ids=["missing", "wrong", "cross-site", "same-site"],
)
def test_a_cross_site_or_tokenless_post_is_refused_and_changes_nothing(ann, review, queued, form, headers):
    form = {k: (csrf_of(ann) if v is None else v) for k, v in form.items()}
    for url in (f"/review/items/{queued[0]}/decision", "/review/undo", "/review/sign-out"):
        response = ann.post(url, data=form, headers=headers)
        assert response.status_code == 403, url
        assert response.get_json()["error"]["code"] == "csrf_failed"
    assert review.store.get(queued[0]).decision is None
    assert ann.get("/review").status_code == 200  # still signed in


def test_a_cross_site_sign_in_is_refused(anon, queued):
    response = sign_in(anon, headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "csrf_failed"


@pytest.mark.parametrize("csrf", [None, "", "forged", "another browser's"], ids=["none", "empty", "forged", "other"])
def test_a_sign_in_without_the_forms_csrf_token_is_refused_even_with_no_sec_fetch_site(review_app, anon, csrf):
    """Login CSRF: an old browser (no Sec-Fetch-Site) posting another site's form must not sign the victim in."""
    review_helpers.sign_in_form_csrf(anon)
    if csrf == "another browser's":
        csrf = review_helpers.sign_in_form_csrf(review_app.test_client())
    data = {"token": TOKENS["ann"]} if csrf is None else {"token": TOKENS["ann"], "csrf": csrf}
    response = anon.post("/review/sign-in", data=data)
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "csrf_failed"
    assert "reviewer" not in session_of(anon) and anon.get("/review").status_code == 303
    fresh = review_app.test_client()  # and with no cookie at all (the form never loaded)
    refused = fresh.post("/review/sign-in", data={"token": TOKENS["ann"], "csrf": "x"})
    assert refused.status_code == 403 and fresh.get("/review").status_code == 303


def test_a_post_without_a_session_is_401_and_a_bad_decision_400(anon, ann, queued):
    refused = anon.post(f"/review/items/{queued[0]}/decision", data={"decision": "adult", "csrf": "x"})
    assert refused.status_code == 401 and refused.get_json()["error"]["code"] == "sign_in_required"
    bad = ann.post(f"/review/items/{queued[0]}/decision", data={"decision": "maybe", "csrf": csrf_of(ann)})
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "invalid_decision"
    gone = ann.post("/review/items/999999/decision", data={"decision": "safe", "csrf": csrf_of(ann)})
    assert gone.status_code == 404 and gone.get_json()["error"]["code"] == "review_item_not_found"


def test_sign_out_ends_the_session(ann, queued):
    response = ann.post("/review/sign-out", data={"csrf": csrf_of(ann)})
    assert response.status_code == 303 and response.headers["Location"] == "/review/sign-in"
    assert ann.get("/review").status_code == 303


def test_an_empty_queue_says_so(ann):
    html = assert_strict_page(ann.get("/review"))
    assert 'id="empty"' in html and "Nothing left to review" in html


def test_the_assets_are_served_and_unknown_ones_are_json_404s(anon):
    for name, mimetype in review_frame.ASSETS.items():
        response = anon.get(f"/review/assets/{name}")
        assert response.status_code == 200 and response.mimetype == mimetype
        assert "://" not in response.get_data(as_text=True)
    missing = anon.get("/review/assets/queue.html")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"


# --- calibration ------------------------------------------------------------------------------
def decide_many(review, adult: list[float], safe: list[float]) -> None:
    """Items with these nsfw scores, decided as given (by the store: the numbers are what is tested here)."""
    n = 0
    for decision, values in (("adult", adult), ("safe", safe)):
        for value in values:
            n += 1
            review.store.record(Sighting(f"{n:064x}", None, "mobilenet_v2", scores_for(value), "unknown"))
            item = review.store.get_by_sha256(f"{n:064x}")
            review.store.decide(item.id, decision, "ann")


def test_calibration_with_no_decisions_says_so(ann):
    html = assert_strict_page(ann.get("/review/calibration"))
    assert "No decisions yet" in html and 'id="outcome-current"' not in html
    data = ann.get("/review/calibration?format=json").get_json()
    assert data["decided"] == 0 and data["suggested"] is None and data["message"].startswith("No decisions yet")
    png = ann.get("/review/calibration?format=png")
    assert png.status_code == 200 and png.mimetype == "image/png"


def test_calibration_with_few_decisions_shows_the_counts_without_a_suggestion(ann, review):
    decide_many(review, [0.7, 0.75], [0.3])
    html = ann.get("/review/calibration").get_data(as_text=True)
    assert "3 decisions so far (2 adult, 1 safe)" in html and 'id="outcome-suggested"' not in html
    assert ann.get("/review/calibration?format=json").get_json()["suggested"] is None


def test_calibration_suggests_thresholds_and_draws_them(ann, review, review_settings):
    adult = [0.55 + i / 100 for i in range(15)]
    safe = [0.25 + i / 100 for i in range(15)]
    decide_many(review, adult, safe)
    data = ann.get("/review/calibration?format=json").get_json()
    assert data["decisions"] == {"adult": 15, "safe": 15}
    assert data["current"]["adult_threshold"] == review_settings.adult_threshold
    assert data["current"]["review"] == 30  # every one of them is between 0.2 and 0.8
    suggested = data["suggested"]
    assert suggested["review"] == 0 and suggested["wrong"] == 0
    assert 0.39 <= suggested["safe_threshold"] < suggested["adult_threshold"] <= 0.55
    html = assert_strict_page(ann.get("/review/calibration"))
    assert 'id="outcome-suggested"' in html and f"NSFW_ADULT_THRESHOLD {suggested['adult_threshold']:g}" in html
    assert 'id="plot" src="/review/calibration?format=png&amp;target=0.95"' in html
    png = ann.get("/review/calibration?format=png")
    assert png.status_code == 200 and png.mimetype == "image/png" and png.headers["ETag"]
    assert len(png.data) < 200_000
    strict = ann.get("/review/calibration?format=json&target=1").get_json()
    assert strict["target"] == 1.0


def test_scripts_read_the_calibration_with_a_reviewer_token(anon, review):
    decide_many(review, [0.9] * 10, [0.1] * 10)
    headers = {"Authorization": f"Bearer {TOKENS['bob']}"}
    data = anon.get("/review/calibration?format=json", headers=headers).get_json()
    assert data["decided"] == 20 and data["suggested"]["review"] == 0
    assert anon.get("/review/calibration?format=png", headers=headers).mimetype == "image/png"
    wrong = anon.get("/review/calibration?format=json", headers={"Authorization": "Bearer not-a-token"})
    assert wrong.status_code == 401 and wrong.get_json()["error"]["code"] == "not_reviewer"


def test_calibration_refuses_a_bad_target_or_format(ann):
    for query, code in (("target=2", "invalid_target"), ("format=svg", "invalid_review_query")):
        response = ann.get(f"/review/calibration?{query}")
        assert response.status_code == 400 and response.get_json()["error"]["code"] == code


def test_without_matplotlib_the_calibration_page_shows_the_numbers_and_names_the_extra(ann, review, monkeypatch):
    decide_many(review, [0.9] * 10, [0.1] * 10)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    html = ann.get("/review/calibration?target=0.9").get_data(as_text=True)
    assert 'id="no-plot"' in html and "pip install '.[review]'" in html and 'id="outcome-suggested"' in html
    response = ann.get("/review/calibration?format=png&target=0.9")
    assert response.status_code == 501 and response.get_json()["error"]["code"] == "plot_unavailable"


# --- issue 21: undo, sign-out, sign-in's CSRF ------------------------------------------------
def test_undo_takes_back_only_your_own_latest_decision(review_app, ann, review, queued):
    bob = review_app.test_client()
    sign_in(bob, "bob")
    ann.post(f"/review/items/{queued[0]}/decision", data={"decision": "adult", "csrf": csrf_of(ann)})
    bob.post(f"/review/items/{queued[0]}/decision", data={"decision": "safe", "csrf": csrf_of(bob)})
    refused = ann.post("/review/undo", data={"csrf": csrf_of(ann)})
    assert refused.status_code == 409
    error = refused.get_json()["error"]
    assert error["code"] == "undo_refused" and "bob decided item" in error["message"]
    item = review.store.get(queued[0])
    assert (item.decision, item.decided_by) == ("safe", "bob")  # bob's later decision stands
    assert [(d.decision, d.reviewer) for d in review.store.history(queued[0])] == [("adult", "ann"), ("safe", "bob")]
    again = ann.post("/review/undo", data={"csrf": csrf_of(ann)})  # the refused one left the session's list
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "nothing_to_undo"
    assert bob.post("/review/undo", data={"csrf": csrf_of(bob)}).status_code == 303
    assert review.store.get(queued[0]).decision is None


def test_a_cookie_saved_before_sign_out_opens_nothing_after_it(review_app, ann, review, queued):
    """Sign-out ends the session on the server: a copy of the cookie (stolen, or a second tab) is refused."""
    saved = ann.get_cookie("nsfw_review", path="/review").value
    csrf = csrf_of(ann)
    assert ann.post("/review/sign-out", data={"csrf": csrf}).status_code == 303
    replay = review_app.test_client()
    replay.set_cookie("nsfw_review", saved, path="/review")
    assert replay.get("/review").status_code == 303  # to the sign-in form
    assert replay.get(f"/review/items/{queued[0]}/thumbnail").status_code == 401
    refused = replay.post(f"/review/items/{queued[0]}/decision", data={"decision": "adult", "csrf": csrf})
    assert refused.status_code == 401 and refused.get_json()["error"]["code"] == "sign_in_required"
    assert review.store.get(queued[0]).decision is None


def test_removing_a_reviewer_from_the_file_ends_all_their_sessions(review_app, reviewers_file, review, queued):
    tabs = [review_app.test_client() for _ in range(2)]
    for tab in tabs:
        assert sign_in(tab, "ann").status_code == 303 and tab.get("/review").status_code == 200
    bob = review_app.test_client()
    sign_in(bob, "bob")
    path = Path(reviewers_file)
    path.write_text(line_for("bob", TOKENS["bob"]) + "\n")  # ann leaves
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))  # a changed file even within the clock's tick
    time.sleep(1.1)  # the file is looked at once a second
    for tab in tabs:
        assert tab.get("/review").status_code == 303
        assert tab.get(f"/review/items/{queued[0]}/thumbnail").status_code == 401
    assert review.store.sessions.end_all("ann") == 0  # ended on the server already
    assert bob.get("/review").status_code == 200
    assert sign_in(review_app.test_client(), "ann").status_code == 401
