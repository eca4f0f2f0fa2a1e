"""The web app, served by the API at `/` from the built files shipped in the package (`api/web_dist/`).

Hashed files under `/assets/` are cached for a year (their name changes with their content); `index.html`
is never cached, so a deploy is seen at the next load. Any other path that is not a file (a client-side route
such as `/tasks/12`) gets `index.html`. Paths of the API (`/api/...`) never fall back: they stay JSON 404s.
Without a build the API still runs, and `/` says how to build the app.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse, Response

WEB_DIST = Path(__file__).resolve().parent / "web_dist"
IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"
_RESERVED = ("api/", "socket.io/", "docs", "redoc", "openapi.json")

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Wegent</title></head>
<body style="font-family: sans-serif; max-width: 40rem; margin: 4rem auto; line-height: 1.5">
<h1>Wegent</h1>
<p>The API is running, but the web app has not been built.</p>
<p>Build it with <code>make web</code> (or start everything with <code>make run</code>, which builds it),
then reload this page. The REST API is under <a href="/docs">/docs</a>.</p>
</body></html>
"""


def mount_web_app(app: FastAPI, dist: Path = WEB_DIST) -> None:
    """Register the catch-all route for the web app; call it after every API router."""
    root = dist.resolve()

    @app.api_route("/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
    def web_app(path: str) -> Response:
        if path.startswith(_RESERVED):
            raise HTTPException(404, "Not Found")
        index = root / "index.html"
        if not index.is_file():
            return HTMLResponse(NOT_BUILT, headers={"Cache-Control": NO_CACHE})
        if path:
            candidate = (root / path).resolve()
            if candidate.is_relative_to(root) and candidate.is_file():
                cache = IMMUTABLE if path.startswith("assets/") else "public, max-age=3600"
                return FileResponse(candidate, headers={"Cache-Control": cache})
            if path.startswith("assets/"):
                raise HTTPException(404, "Not Found")  # a missing hashed file is an error, not a page
        return FileResponse(index, media_type="text/html", headers={"Cache-Control": NO_CACHE})
