"""The API serves the built web app at `/`: caching, client-side routes, and the API paths left alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.web import IMMUTABLE, mount_web_app


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><div id=root></div>")
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log(1)")
    (tmp_path / "favicon.svg").write_text("<svg/>")
    (tmp_path.parent / "secret.txt").write_text("outside")
    return tmp_path


def _client(dist: Path) -> TestClient:
    app = FastAPI()

    @app.get("/api/v1/ping")
    def ping() -> dict[str, str]:
        return {"pong": "yes"}

    mount_web_app(app, dist)
    return TestClient(app)


def test_index_is_not_cached_and_client_routes_fall_back_to_it(dist: Path) -> None:
    client = _client(dist)
    for path in ("/", "/tasks/12", "/login", "/resources/teams/x"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "id=root" in response.text
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["content-type"].startswith("text/html")


def test_hashed_assets_are_cached_for_a_year(dist: Path) -> None:
    client = _client(dist)
    response = client.get("/assets/index-abc123.js")
    assert response.status_code == 200 and response.text == "console.log(1)"
    assert response.headers["cache-control"] == IMMUTABLE
    assert client.get("/assets/missing-000.js").status_code == 404
    assert client.get("/favicon.svg").headers["cache-control"] == "public, max-age=3600"


def test_api_paths_and_traversal_never_fall_back(dist: Path) -> None:
    client = _client(dist)
    assert client.get("/api/v1/ping").json() == {"pong": "yes"}
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.json() == {"detail": "Not Found"}
    assert "outside" not in client.get("/../secret.txt").text
    assert "outside" not in client.get("/assets/../../secret.txt").text


def test_without_a_build_the_page_says_how_to_build_it(tmp_path: Path) -> None:
    client = _client(tmp_path / "not-built")
    response = client.get("/")
    assert response.status_code == 200
    assert "make web" in response.text and "make run" in response.text
    assert client.get("/api/v1/ping").status_code == 200


def test_the_real_app_keeps_its_api_docs_and_spec(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/docs").status_code == 200
    assert client.get("/openapi.json").json()["info"]["title"] == "Wegent"
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/api/v1/tasks").status_code == 401  # still the API, not the app
    assert client.get("/api/v1/no-such-route").status_code == 404
    page = client.get("/tasks/1")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
