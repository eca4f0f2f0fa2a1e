"""HTTP client for the CLI: server URL and token from the saved login or the environment."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx


class CLIError(Exception):
    """An error the CLI prints as one clear line and exits non-zero for."""


def config_dir() -> Path:
    return Path(os.environ.get("WEGENT_CONFIG_DIR", Path.home() / ".config" / "wegent"))


def load_credentials() -> dict[str, str]:
    path = config_dir() / "credentials.json"
    if path.exists():
        return json.loads(path.read_text())
    return {}


def save_credentials(server: str, token: str, username: str) -> Path:
    path = config_dir() / "credentials.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"server": server, "token": token, "username": username}, fh)
    return path


def server_url(explicit: str | None = None) -> str:
    creds = load_credentials()
    return (explicit or os.environ.get("WEGENT_API_URL") or creds.get("server") or "http://127.0.0.1:8000").rstrip("/")


class ApiClient:
    def __init__(self, server: str | None = None, token: str | None = None, timeout: float = 30.0) -> None:
        creds = load_credentials()
        self.server = server_url(server)
        # A personal API key (scripts, CI) wins over the saved login, so a job never depends on a stored session.
        self.token = token or os.environ.get("WEGENT_API_KEY") or os.environ.get("WEGENT_TOKEN") or creds.get("token")
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self.http = httpx.Client(base_url=self.server, headers=headers, timeout=timeout)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise CLIError(f"cannot reach the Wegent API at {self.server}: {exc}") from exc
        if response.status_code == 401:
            detail = _detail(response)
            hint = "check WEGENT_API_KEY" if os.environ.get("WEGENT_API_KEY") else "run 'wegent login' first"
            raise CLIError(f"not authorised ({detail}); {hint}")
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise CLIError(format_error(response))
        if response.status_code == 204 or not response.content:
            return None
        return response.json()


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip() or response.reason_phrase
    detail = body.get("detail") if isinstance(body, dict) else body
    if isinstance(detail, list):  # FastAPI request validation errors
        return "; ".join(f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg')}" for d in detail)
    return str(detail)


def format_error(response: httpx.Response) -> str:
    lines = [f"error {response.status_code}: {_detail(response)}"]
    try:
        body = response.json()
    except ValueError:
        return lines[0]
    if isinstance(body, dict):
        for err in body.get("errors", []):
            lines.append(f"  {err.get('field')}: {err.get('message')}")
    return "\n".join(lines)
