"""The service around /predict: health, readiness, and JSON for every HTTP error."""

from __future__ import annotations

from nsfw.web import current


def test_health_is_ok_and_touches_no_model(app, client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert not current.detector(app).ready


def test_ready_is_503_until_the_model_is_loaded_then_200(app, client):
    response = client.get("/ready")
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "not_ready"

    current.detector(app).load()
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready"}


def test_unknown_route_is_json_404(client):
    response = client.get("/nope")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_wrong_method_is_json_405_with_allow_header(client):
    response = client.get("/predict?url=http://example.com/a.jpg")
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"
    assert "POST" in response.headers["Allow"]
