"""Workspaces: the executor clones a token-protected repository over smart HTTP and reports what changed.

The repository is a bare repo on this machine behind ``git http-backend`` (tests/support/git_server.py),
which accepts only HTTP Basic auth carrying the right token.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from executor.app import create_app
from executor.client import ExecutorClient, WorkspaceCloneError, WorkspaceConflict
from tests.support.git_server import GitHTTPServer, git, make_repo
from tests.support.model_server import ServerThread

TOKEN = "workspace-executor-token"
GIT_TOKEN = "ghp_workspaceSecretToken123"
FILES = {"README.md": "# Demo\n", "src/app.py": "print('hello')\n", "docs/old.txt": "obsolete\n"}


@pytest.fixture(scope="module")
def git_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("git-root")
    make_repo(root / "demo.git", FILES, extra_branches={"feature": {"feature.txt": "on the feature branch\n"}})
    make_repo(root / "other.git", {"OTHER.md": "another repository\n"})
    return root


@pytest.fixture(scope="module")
def git_server(git_root: Path) -> Iterator[GitHTTPServer]:
    with GitHTTPServer(git_root, token=GIT_TOKEN, host="127.0.0.1") as server:
        yield server


@pytest.fixture
def repo_url(git_server: GitHTTPServer) -> str:
    return f"{git_server.url_for('127.0.0.1')}/demo.git"


@pytest.fixture
async def executor(tmp_path: Path) -> AsyncIterator[tuple[ExecutorClient, Path]]:
    workdir = tmp_path / "workspace"
    workdir.mkdir()
    server = ServerThread(create_app(TOKEN, workdir), "127.0.0.1")
    server.start()
    try:
        async with ExecutorClient(server.url, TOKEN, retries=0) as client:
            yield client, workdir
    finally:
        server.stop()


def secret_forms() -> list[str]:
    return [GIT_TOKEN, base64.b64encode(f"x-access-token:{GIT_TOKEN}".encode()).decode()]


def assert_no_secret_on_disk(workdir: Path) -> None:
    for path in (workdir / ".git").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in secret_forms():
                assert secret.encode() not in data, f"{secret[:6]}… found in {path}"


async def test_clone_with_token_then_idempotent(
    executor: tuple[ExecutorClient, Path], git_server: GitHTTPServer, git_root: Path, repo_url: str
) -> None:
    client, workdir = executor
    before = git_server.uploads()
    status = await client.prepare_workspace(repo_url, branch="main", depth=1, token=GIT_TOKEN)

    assert status.cloned is True
    assert status.path == str(workdir)
    assert status.branch == "main"
    assert status.head == git("rev-parse", "main", cwd=git_root / "demo.git")
    assert status.base == status.head
    assert status.git_url == repo_url
    assert status.status == "" and status.diff == "" and status.diff_stat == ""
    assert (workdir / "src" / "app.py").read_text() == FILES["src/app.py"]
    assert not list(workdir.glob(".wegent-clone-*"))
    assert (workdir / ".git" / "shallow").exists()  # depth=1 really was shallow
    assert git_server.uploads() == before + 1
    assert any(r.authorized and r.user == "x-access-token" for r in git_server.requests())
    # The token is nowhere in the repository: not in .git/config, not in a remote URL, not in any file.
    assert git("config", "--get", "remote.origin.url", cwd=workdir) == repo_url
    assert_no_secret_on_disk(workdir)

    again = await client.prepare_workspace(repo_url, branch="main", depth=1, token=GIT_TOKEN)
    assert again.head == status.head
    assert git_server.uploads() == before + 1  # no second clone

    current = await client.workspace_status()
    assert current == status


async def test_wrong_token_is_a_clear_422_without_the_token(
    executor: tuple[ExecutorClient, Path], repo_url: str
) -> None:
    client, workdir = executor
    wrong = "ghp_wrongTokenThatMustNotLeak"
    with pytest.raises(WorkspaceCloneError) as caught:
        await client.prepare_workspace(repo_url, token=wrong)
    error = caught.value
    assert error.status_code == 422
    message = str(error)
    assert "authentication failed" in message and "rejected the token" in message
    assert repo_url in message
    assert wrong not in message
    assert base64.b64encode(f"x-access-token:{wrong}".encode()).decode() not in message
    assert not (workdir / ".git").exists()
    assert not list(workdir.glob(".wegent-clone-*"))

    with pytest.raises(WorkspaceCloneError, match="needs a token and none was given"):
        await client.prepare_workspace(repo_url)

    # Nothing was left half-done: the right token now works in the same directory.
    status = await client.prepare_workspace(repo_url, token=GIT_TOKEN)
    assert status.cloned and status.branch == "main"


async def test_token_in_url_is_used_but_never_stored(
    executor: tuple[ExecutorClient, Path], git_server: GitHTTPServer
) -> None:
    client, workdir = executor
    url = f"http://someone:{GIT_TOKEN}@127.0.0.1:{git_server.port}/demo.git"
    status = await client.prepare_workspace(url)
    assert status.cloned
    assert status.git_url == f"http://127.0.0.1:{git_server.port}/demo.git"
    assert any(r.authorized and r.user == "someone" for r in git_server.requests())
    assert_no_secret_on_disk(workdir)


async def test_status_and_diff_after_changes(executor: tuple[ExecutorClient, Path], repo_url: str) -> None:
    client, workdir = executor
    cloned = await client.prepare_workspace(repo_url, token=GIT_TOKEN)

    (workdir / "src" / "app.py").write_text("print('hello, world')\n")
    (workdir / "docs" / "old.txt").unlink()
    (workdir / "NEW.md").write_text("brand new file\n")
    (workdir / ".gitignore").write_text("*.log\n")
    (workdir / "debug.log").write_text("ignored\n")

    status = await client.workspace_status()
    assert status.head == cloned.head and status.branch == "main"
    lines = set(status.status.splitlines())
    assert {" M src/app.py", " D docs/old.txt", "?? NEW.md", "?? .gitignore"} <= lines
    assert "debug.log" not in status.status
    for name in ("src/app.py", "docs/old.txt", "NEW.md"):
        assert name in status.diff_stat
    assert "-print('hello')" in status.diff and "+print('hello, world')" in status.diff
    assert "+brand new file" in status.diff  # untracked files are part of the diff
    assert "debug.log" not in status.diff  # .gitignore is respected
    assert status.diff_truncated is False
    # The repository's own index was not touched by computing the diff.
    assert "?? NEW.md" in git("status", "--porcelain", cwd=workdir).splitlines()

    small = await client.workspace_status(max_diff_bytes=40)
    assert small.diff_truncated is True and len(small.diff.encode()) <= 40

    # Commits the agent makes still count as its changes: the diff is against the cloned commit.
    git("add", "-A", cwd=workdir)
    git("commit", "-q", "-m", "agent work", cwd=workdir)
    committed = await client.workspace_status()
    assert committed.head != cloned.head and committed.base == cloned.head
    assert committed.status == ""
    assert "+print('hello, world')" in committed.diff and "+brand new file" in committed.diff


async def test_branch_depth_and_bad_requests(
    executor: tuple[ExecutorClient, Path], git_server: GitHTTPServer, git_root: Path, repo_url: str
) -> None:
    client, workdir = executor
    with pytest.raises(WorkspaceCloneError, match="no-such-branch"):
        await client.prepare_workspace(repo_url, branch="no-such-branch", token=GIT_TOKEN)
    with pytest.raises(WorkspaceCloneError, match="scheme 'file' is not allowed"):
        await client.prepare_workspace(f"file://{git_root}/demo.git")
    with pytest.raises(WorkspaceCloneError, match="neither a URL"):
        await client.prepare_workspace(str(git_root / "demo.git"))
    with pytest.raises(WorkspaceCloneError, match="invalid branch"):
        await client.prepare_workspace(repo_url, branch="--upload-pack=evil", token=GIT_TOKEN)

    status = await client.prepare_workspace(repo_url, branch="feature", depth=0, token=GIT_TOKEN)
    assert status.branch == "feature"
    assert (workdir / "feature.txt").read_text() == "on the feature branch\n"
    assert not (workdir / ".git" / "shallow").exists()  # depth 0 = full history
    assert status.head == git("rev-parse", "feature", cwd=git_root / "demo.git")

    other = f"{git_server.url_for('127.0.0.1')}/other.git"
    with pytest.raises(WorkspaceConflict, match="already holds a clone"):
        await client.prepare_workspace(other, token=GIT_TOKEN)


async def test_not_cloned_and_auth(executor: tuple[ExecutorClient, Path]) -> None:
    client, _ = executor
    status = await client.workspace_status()
    assert status.cloned is False and status.head is None and status.diff == ""
    async with httpx.AsyncClient(base_url=client.base_url) as raw:
        assert (await raw.get("/workspace")).status_code == 401
        response = await raw.post("/workspace", json={"token": GIT_TOKEN}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 422
    assert GIT_TOKEN not in response.text  # validation errors never echo the body back
