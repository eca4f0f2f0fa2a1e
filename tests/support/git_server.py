"""Bare git repositories served over smart HTTP (``git http-backend`` as a CGI) behind token auth.

Test infrastructure only. Every request must carry HTTP Basic auth whose password is the server's token (any
user name, as GitHub/GitLab accept tokens); anything else gets ``401`` with a ``WWW-Authenticate`` challenge.
Requests are logged (path, whether auth passed, the user name presented) so tests can tell a real clone from a
no-op. Binds 0.0.0.0 by default so containers reach it as ``host.docker.internal``.

    server = GitHTTPServer(root, token="s3cret").start()
    make_repo(root / "demo.git", {"README.md": "hi\\n"})
    server.url_for("127.0.0.1") + "/demo.git"
"""

from __future__ import annotations

import base64
import binascii
import os
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(*args: str, cwd: Path | None = None) -> str:
    env = {**os.environ, **GIT_ENV, "HOME": tempfile.gettempdir()}
    result = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout.strip()


def make_repo(bare: Path, files: dict[str, str], branch: str = "main", extra_branches: dict | None = None) -> str:
    """Create a bare repository at ``bare`` whose ``branch`` holds ``files``; returns the head commit.

    ``extra_branches`` maps a branch name to files committed on top of ``branch`` on that branch only.
    """
    with tempfile.TemporaryDirectory(prefix="git-src-") as tmp:
        src = Path(tmp)
        git("init", "-q", "-b", branch, str(src))
        for name, content in files.items():
            path = src / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        git("add", "-A", cwd=src)
        git("commit", "-q", "-m", "initial commit", cwd=src)
        git("commit", "-q", "--allow-empty", "-m", "second commit", cwd=src)
        for other, other_files in (extra_branches or {}).items():
            git("checkout", "-q", "-b", other, cwd=src)
            for name, content in other_files.items():
                (src / name).write_text(content)
            git("add", "-A", cwd=src)
            git("commit", "-q", "-m", f"work on {other}", cwd=src)
            git("checkout", "-q", branch, cwd=src)
        git("clone", "-q", "--bare", str(src), str(bare))
    git("config", "http.receivepack", "true", cwd=bare)
    return git("rev-parse", branch, cwd=bare)


@dataclass
class GitRequest:
    method: str
    path: str
    query: str
    authorized: bool
    user: str | None


class GitHTTPServer:
    def __init__(self, root: Path, token: str, host: str = "0.0.0.0", port: int = 0) -> None:
        self.root = root
        self.token = token
        self.log: list[GitRequest] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url_for(self, host: str) -> str:
        return f"http://{host}:{self.port}"

    def start(self) -> GitHTTPServer:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name=f"git-http:{self.port}")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> GitHTTPServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def requests(self) -> list[GitRequest]:
        with self._lock:
            return list(self.log)

    def uploads(self) -> int:
        """How many authorized fetches started (ref advertisements for ``git-upload-pack``): one per clone."""
        return sum(
            1
            for r in self.requests()
            if r.authorized and r.path.endswith("/info/refs") and "service=git-upload-pack" in r.query
        )

    def _record(self, entry: GitRequest) -> None:
        with self._lock:
            self.log.append(entry)

    def _check(self, header: str | None) -> tuple[bool, str | None]:
        scheme, _, value = (header or "").partition(" ")
        if scheme.lower() != "basic":
            return False, None
        try:
            user, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False, None
        return password == self.token, user

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: object) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                ok, user = server._check(self.headers.get("Authorization"))
                server._record(GitRequest(self.command, parts.path, parts.query, ok, user))
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    body = self._read_chunked()
                else:
                    length = int(self.headers.get("Content-Length") or 0)
                    body = self.rfile.read(length) if length else b""
                if not ok:
                    message = b"authentication required\n"
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="git"')
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(message)))
                    self.end_headers()
                    self.wfile.write(message)
                    return
                env = {
                    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                    "GIT_PROJECT_ROOT": str(server.root),
                    "GIT_HTTP_EXPORT_ALL": "1",
                    "REQUEST_METHOD": self.command,
                    "PATH_INFO": parts.path,
                    "QUERY_STRING": parts.query,
                    "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                    "CONTENT_LENGTH": str(len(body)),
                    "REMOTE_USER": user or "",
                    "REMOTE_ADDR": self.client_address[0],
                    "GATEWAY_INTERFACE": "CGI/1.1",
                    "SERVER_PROTOCOL": "HTTP/1.1",
                }
                if self.headers.get("Content-Encoding"):
                    env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
                if self.headers.get("Git-Protocol"):
                    env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
                result = subprocess.run(
                    ["git", "http-backend"], input=body, env=env, capture_output=True, check=False, timeout=60
                )
                head, _, payload = result.stdout.partition(b"\r\n\r\n")
                if not _:
                    head, _, payload = result.stdout.partition(b"\n\n")
                status, headers = 200, []
                for line in head.decode("latin-1").splitlines():
                    name, _, value = line.partition(":")
                    if name.lower() == "status":
                        status = int(value.strip().split()[0])
                    elif name:
                        headers.append((name.strip(), value.strip()))
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _read_chunked(self) -> bytes:
                data = bytearray()
                while True:
                    size = int(self.rfile.readline().strip().split(b";")[0], 16)
                    if size == 0:
                        self.rfile.readline()
                        return bytes(data)
                    data += self.rfile.read(size)
                    self.rfile.readline()

        return Handler
