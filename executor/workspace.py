"""The task's git repository, cloned into the executor's working directory, and what the agent changed in it.

Credentials never touch disk: a token travels as an ``http.<origin>.extraHeader`` set through git's
``GIT_CONFIG_COUNT``/``GIT_CONFIG_KEY_n``/``GIT_CONFIG_VALUE_n`` environment of the clone process only (not in its
argv, not in ``.git/config``), the remote URL is stored without user info, and every message that leaves here
has the token (raw, base64'd in the header, or URL-encoded) replaced by ``***``.

The clone lands in a temporary directory inside the working directory and its ``.git`` is then moved into
place, so a working directory that already holds files (say, an agent's scratch files) can still be used.
The cloned commit is kept as ``refs/wegent/base``: diffs are taken against it, so commits the agent makes
still show up as its changes. Untracked files are part of the diff (through a throw-away index file, so the
repository's own index is never touched).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import shutil
import signal
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import structlog

from wegent.executor_api import WorkspaceRequest, WorkspaceStatus

log = structlog.get_logger(__name__)

BASE_REF = "refs/wegent/base"
DEFAULT_USERNAME = "x-access-token"  # GitHub's name for token auth; GitLab and Gitea accept any name with a token
DEFAULT_MAX_DIFF_BYTES = 200_000
MAX_STATUS_BYTES = 100_000
GIT_TIMEOUT = 60.0
_CLONE_PREFIX = ".wegent-clone-"
_ALLOWED_SCHEMES = frozenset({"http", "https", "ssh", "git"})
_SCP_LIKE = re.compile(r"^(?:[\w.+-]+@)?[\w.-]+:(?!//)[^\s]+$")
_BAD_BRANCH = re.compile(r"[\s\x00-\x1f\x7f~^:?*\[\\]|\.\.|^-|@\{")


class WorkspaceError(Exception):
    """A workspace request that cannot be served; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class GitResult:
    returncode: int
    stdout: str
    stderr: str
    truncated: bool = False


@dataclass
class Remote:
    url: str  # without credentials
    username: str | None
    secret: str | None  # token or password; None for anonymous clones

    @property
    def auth_header(self) -> str | None:
        if not self.secret:
            return None
        pair = f"{self.username or DEFAULT_USERNAME}:{self.secret}".encode()
        return "Authorization: Basic " + base64.b64encode(pair).decode()

    def secrets(self) -> list[str]:
        """Every form of the secret that could show up in a message."""
        if not self.secret:
            return []
        forms = {self.secret, quote(self.secret, safe="")}
        header = self.auth_header
        if header:
            forms.add(header.rsplit(" ", 1)[-1])
        return sorted((f for f in forms if f), key=len, reverse=True)


def parse_remote(request: WorkspaceRequest) -> Remote:
    """Split credentials off the URL and check it names a network transport (no local paths, no ext::)."""
    url = request.git_url.strip()
    if url.startswith("-") or any(c in url for c in "\r\n\x00"):
        raise WorkspaceError(f"invalid git url {url[:200]!r}", 422)
    username, secret = request.username, request.token
    if "://" in url:
        parts = urlsplit(url)
        if parts.scheme.lower() not in _ALLOWED_SCHEMES:
            allowed = ", ".join(sorted(_ALLOWED_SCHEMES))
            raise WorkspaceError(f"git url scheme {parts.scheme!r} is not allowed (use one of: {allowed})", 422)
        if not parts.hostname:
            raise WorkspaceError("git url has no host", 422)
        if parts.username or parts.password:
            if parts.password and parts.scheme.lower() in ("http", "https"):
                secret = secret or parts.password
            username = username or parts.username
            host = parts.hostname + (f":{parts.port}" if parts.port else "")
            if parts.scheme.lower() == "ssh" and parts.username:
                host = f"{parts.username}@{host}"  # the ssh login is not a secret
            url = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    elif not _SCP_LIKE.match(url):
        raise WorkspaceError(f"git url {url[:200]!r} is neither a URL nor user@host:path", 422)
    if request.branch is not None and (not request.branch or _BAD_BRANCH.search(request.branch)):
        raise WorkspaceError(f"invalid branch name {request.branch[:200]!r}", 422)
    return Remote(url=url, username=username, secret=secret)


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    # Whatever else looks like credentials inside a URL goes too.
    return re.sub(r"(\w+://)[^/@\s]*:[^/@\s]*@", r"\1***@", text)


def git_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """git's environment: no prompts, no executor secrets, stable (English) messages."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EXECUTOR_TOKEN", "GIT_CONFIG_"))}
    env.update(
        {
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ALLOW_PROTOCOL": "http:https:ssh:git",
            "GCM_INTERACTIVE": "never",
            "LC_ALL": "C",
            "LANGUAGE": "C",
        }
    )
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    env.update(extra or {})
    return env


async def run_git(
    args: list[str],
    cwd: Path,
    *,
    env: dict[str, str] | None = None,
    timeout: float = GIT_TIMEOUT,
    max_output: int | None = None,
) -> GitResult:
    """Run git in its own process group; a timeout or cancellation kills the whole group."""
    proc = await asyncio.create_subprocess_exec(
        "git",
        *args,
        cwd=str(cwd),
        env=env or git_env(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stdout is not None and proc.stderr is not None

    async def read(stream: asyncio.StreamReader, cap: int | None) -> tuple[bytes, bool]:
        buffer = bytearray()
        cut = False
        while chunk := await stream.read(65536):
            if cap is None or len(buffer) < cap:
                buffer += chunk
            else:
                cut = True  # keep draining so git can finish; drop the rest
        if cap is not None and len(buffer) > cap:
            del buffer[cap:]
            cut = True
        return bytes(buffer), cut

    try:
        (out, cut), (err, _) = await asyncio.wait_for(
            asyncio.gather(read(proc.stdout, max_output), read(proc.stderr, 64_000)), timeout
        )
        await proc.wait()
    except TimeoutError:
        _kill_group(proc.pid)
        await proc.wait()
        return GitResult(124, "", f"git {args[0]} timed out after {timeout:.0f}s")
    except BaseException:
        _kill_group(proc.pid)
        with contextlib.suppress(Exception):
            await asyncio.shield(proc.wait())
        raise
    return GitResult(
        proc.returncode or 0, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), truncated=cut
    )


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _explain(message: str, auth_header: str | None) -> str:
    """git's reaction to an HTTP 401 is a failed username prompt; say what it means."""
    if "could not read Username" in message or "Authentication failed" in message:
        reason = "the server rejected the token" if auth_header else "the repository needs a token and none was given"
        return f"authentication failed: {reason} ({message})"
    return message


def _git_message(result: GitResult) -> str:
    lines = [line.strip() for line in (result.stderr or result.stdout).splitlines() if line.strip()]
    # Progress chatter ("Cloning into ...") is noise; git's verdict is in the fatal/error/remote lines.
    useful = [line for line in lines if not line.startswith("Cloning into")]
    return " ".join(useful)[-2000:] or f"git exited with code {result.returncode}"


class Workspace:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._lock = asyncio.Lock()

    @property
    def cloned(self) -> bool:
        return (self.workdir / ".git").exists()

    async def prepare(self, request: WorkspaceRequest) -> WorkspaceStatus:
        remote = parse_remote(request)
        async with self._lock:
            if self.cloned:
                existing = (await self._git(["config", "--get", "remote.origin.url"])).stdout.strip()
                if existing and existing != remote.url:
                    raise WorkspaceError(
                        f"the workspace already holds a clone of {redact(existing, [])}, not {remote.url}", 409
                    )
                log.info("workspace_already_cloned", url=remote.url)
                return await self._status(DEFAULT_MAX_DIFF_BYTES)
            await self._clone(request, remote)
            return await self._status(DEFAULT_MAX_DIFF_BYTES)

    async def status(self, max_diff_bytes: int = DEFAULT_MAX_DIFF_BYTES) -> WorkspaceStatus:
        async with self._lock:
            return await self._status(max_diff_bytes)

    # ------------------------------------------------------------------------------------------ clone
    async def _clone(self, request: WorkspaceRequest, remote: Remote) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        for stale in self.workdir.glob(f"{_CLONE_PREFIX}*"):
            shutil.rmtree(stale, ignore_errors=True)
        target = self.workdir / f"{_CLONE_PREFIX}{uuid.uuid4().hex[:8]}"
        args = ["clone", "--no-checkout", "--quiet"]
        if request.depth:
            args += ["--depth", str(request.depth)]
        if request.branch:
            args += ["--branch", request.branch]
        args += ["--", remote.url, str(target)]
        extra: dict[str, str] = {}
        header = remote.auth_header
        if header and "://" in remote.url:
            parts = urlsplit(remote.url)
            # Scoped to the repository's origin, so a redirect or submodule elsewhere never receives it.
            extra = {
                "GIT_CONFIG_COUNT": "1",
                "GIT_CONFIG_KEY_0": f"http.{parts.scheme}://{parts.netloc}/.extraHeader",
                "GIT_CONFIG_VALUE_0": header,
            }
        log.info("workspace_clone", url=remote.url, branch=request.branch, depth=request.depth, auth=bool(header))
        try:
            result = await run_git(args, self.workdir, env=git_env(extra), timeout=request.timeout)
            if result.returncode != 0:
                message = redact(_git_message(result), remote.secrets())
                log.warning("workspace_clone_failed", url=remote.url, code=result.returncode)
                raise WorkspaceError(f"git clone of {remote.url} failed: {_explain(message, header)}", 422)
            os.replace(target / ".git", self.workdir / ".git")
        finally:
            shutil.rmtree(target, ignore_errors=True)
        has_head = (await self._git(["rev-parse", "-q", "--verify", "HEAD"])).returncode == 0
        if has_head:
            checkout = await self._git(["reset", "--hard", "-q", "HEAD"], timeout=request.timeout)
            if checkout.returncode != 0:
                raise WorkspaceError(f"checking out the clone failed: {_git_message(checkout)}", 422)
            await self._git(["update-ref", BASE_REF, "HEAD"])
        if not (await self._git(["config", "user.email"])).stdout.strip():
            await self._git(["config", "user.email", "agent@wegent.local"])
            await self._git(["config", "user.name", "Wegent Agent"])
        log.info("workspace_cloned", url=remote.url)

    # ----------------------------------------------------------------------------------------- status
    async def _status(self, max_diff_bytes: int) -> WorkspaceStatus:
        path = str(self.workdir)
        if not self.cloned:
            return WorkspaceStatus(cloned=False, path=path)
        url = (await self._git(["config", "--get", "remote.origin.url"])).stdout.strip() or None
        branch_result = await self._git(["symbolic-ref", "--short", "-q", "HEAD"])
        head = (await self._git(["rev-parse", "-q", "--verify", "HEAD"])).stdout.strip() or None
        base = (await self._git(["rev-parse", "-q", "--verify", BASE_REF])).stdout.strip() or head
        porcelain = await self._git(["status", "--porcelain=v1", "--untracked-files=all"], max_output=MAX_STATUS_BYTES)
        diff_stat, diff, truncated = await self._diff(base, max_diff_bytes)
        return WorkspaceStatus(
            cloned=True,
            path=path,
            git_url=redact(url, []) if url else None,
            branch=branch_result.stdout.strip() or None,
            head=head,
            base=base,
            status=porcelain.stdout,
            diff_stat=diff_stat,
            diff=diff,
            diff_truncated=truncated,
        )

    async def _diff(self, base: str | None, max_bytes: int) -> tuple[str, str, bool]:
        """Working tree (tracked and untracked, .gitignore respected) against ``base``, via a scratch index."""
        if base is None:
            base = (await self._git(["hash-object", "-t", "tree", "/dev/null"])).stdout.strip()
        with tempfile.TemporaryDirectory(prefix="wegent-index-") as scratch:
            index = Path(scratch) / "index"
            real_index = self.workdir / ".git" / "index"
            if real_index.exists():
                shutil.copyfile(real_index, index)
            env = git_env({"GIT_INDEX_FILE": str(index)})
            added = await self._git(["add", "-A", "--", "."], env=env)
            if added.returncode != 0:
                return "", f"(diff unavailable: {_git_message(added)})", False
            stat = await self._git(["diff", "--cached", "--stat=120", base], env=env, max_output=MAX_STATUS_BYTES)
            diff = await self._git(
                ["diff", "--cached", "--no-color", "--no-ext-diff", base], env=env, max_output=max_bytes
            )
        return stat.stdout, diff.stdout, diff.truncated

    async def _git(
        self,
        args: list[str],
        *,
        env: dict[str, str] | None = None,
        timeout: float = GIT_TIMEOUT,
        max_output: int | None = None,
    ) -> GitResult:
        return await run_git(args, self.workdir, env=env, timeout=timeout, max_output=max_output)
