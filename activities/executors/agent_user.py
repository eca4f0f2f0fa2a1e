"""Who a local executor runs as when the worker is root: an unprivileged user of its own, per sandbox.

On the local backend an agent is a process on the worker's host. Run as root it could read the platform's
state folder (signing and encryption keys, the SQLite database, the admin password) and every other agent's
files. So a root worker starts each local executor as a numeric uid of its own (``uid_base + port``: ports are
unique among a host's live executors, and a uid needs no passwd entry), with no supplementary groups, in a
working directory outside the state folder that only that uid may open, and it closes the state folder to
everyone else (mode 0700).

That uid cannot run the worker's interpreter when it lives somewhere only root may enter (a pyenv under
/root, say), so agents run on an interpreter of their own (``scripts/ensure_agent_python.sh``: a venv of the
system Python with the executor's dependencies) and a copy of the executor's own sources (``executor`` and
the ``wegent`` kernel it imports), refreshed when the worker starts. A worker that is not root runs agents as
its own user, as before: it has no other user to give them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from activities.executors.base import ExecutorStartError
from wegent.config import Settings

# The packages a `python -m executor` imports from this project (tests/unit/test_layering.py keeps it so).
EXECUTOR_PACKAGES = ("executor", "wegent")
DEFAULT_AGENT_PYTHON = Path("/opt/wegent/agent-python/bin/python")
DEFAULT_AGENT_ROOT = Path("/var/lib/wegent/agents")


@dataclass(frozen=True)
class AgentUser:
    """How a root worker's local executors are confined (see the module's docstring)."""

    uid_base: int
    root: Path  # this deployment's agent working directories
    python: str  # an interpreter every agent uid may run
    sources: Path  # the copy of the executor's packages, readable by every agent uid

    def uid_for(self, port: int) -> int:
        return self.uid_base + port

    def workdir(self, executor_id: str, port: int) -> Path:
        """A fresh working directory that only the executor's uid may open."""
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o711)  # agents may pass through to their own directory, not list the others
        path = self.root / executor_id
        if path.exists():  # what an earlier executor of this id left
            shutil.rmtree(path, ignore_errors=True)
        path.mkdir(mode=0o700)
        uid = self.uid_for(port)
        os.chown(path, uid, uid)
        return path

    def remove_workdir(self, path: str | None) -> None:
        if path and Path(path).parent == self.root:
            shutil.rmtree(path, ignore_errors=True)

    def check_python(self) -> None:
        if not Path(self.python).is_file():
            raise ExecutorStartError(
                f"local executors run as an unprivileged user when the worker is root, and need an interpreter "
                f"that user may run: {self.python} is missing (run scripts/ensure_agent_python.sh, or set "
                "WEGENT_AGENT_PYTHON)"
            )


def agent_user_for(settings: Settings, source_root: Path | None) -> AgentUser | None:
    """The confinement of a root worker's local executors; None when the worker is not root."""
    if os.geteuid() != 0 or source_root is None:
        return None
    # One deployment's agents in a directory of their own: several (tests, say) may share a host.
    deployment = hashlib.sha256(str(settings.state_dir).encode()).hexdigest()[:12]
    root = (settings.agent_root or DEFAULT_AGENT_ROOT) / deployment
    _close_state_folder(settings.state_dir)
    return AgentUser(
        uid_base=settings.agent_uid_base,
        root=root / "work",
        python=str(settings.agent_python or DEFAULT_AGENT_PYTHON),
        sources=_copy_sources(source_root, root),
    )


def _close_state_folder(state_dir: Path) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(state_dir, 0o700)


def _copy_sources(source_root: Path, root: Path) -> Path:
    """The executor's packages as this worker has them, readable (not writable) by every agent.

    Named by their content: a worker starting beside another of the same deployment never replaces files
    that running executors may still import from.
    """
    files = sorted(
        path
        for package in EXECUTOR_PACKAGES
        for path in (source_root / package).rglob("*.py")
        if "__pycache__" not in path.parts
    )
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(source_root)).encode() + b"\0" + path.read_bytes())
    dest = root / f"src-{digest.hexdigest()[:12]}"
    if dest.is_dir():
        return dest
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o711)
    staging = root / f".staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    for path in files:
        target = staging / path.relative_to(source_root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    for path in [staging, *staging.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    try:
        os.rename(staging, dest)
    except OSError:  # another worker got there first with the same content
        shutil.rmtree(staging, ignore_errors=True)
    return dest


def reachable_by_others(path: Path) -> bool:
    """Whether any uid may run ``path``: every folder above it searchable, the file readable and executable."""
    path = path.resolve()
    mode = path.stat().st_mode
    if not (mode & 0o004 and mode & 0o001):
        return False
    return all(parent.stat().st_mode & 0o001 for parent in path.parents)


def for_agents(binary: Path, root: Path = Path("/opt/wegent/tools")) -> Path:
    """``binary`` where agents may run it: itself, or a copy of its install folder (the folder above its
    ``bin/``, kept whole for the paths inside it) under ``root`` when it sits somewhere only root may enter."""
    binary = binary.resolve()
    if reachable_by_others(binary):
        return binary
    install = binary.parent.parent
    copy = root / install.name
    if not (copy / binary.relative_to(install)).is_file():
        staging = root / f".{install.name}.{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(install, staging, symlinks=True)
        for path in [staging, *staging.rglob("*")]:
            if path.is_symlink():
                continue
            mode = path.stat().st_mode
            runnable = path.is_dir() or mode & 0o100
            os.chmod(path, mode | (0o005 if runnable else 0o004))
        root.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(staging, copy)
        except OSError:  # another worker copied it first
            shutil.rmtree(staging, ignore_errors=True)
    return copy / binary.relative_to(install)
