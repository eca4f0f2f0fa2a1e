"""The README's first demo, as a new user runs it: a fresh checkout, `make run`, the demo lines as written.

Nothing of the suite's set-up applies: no `WEGENT_*` variable, the product's own defaults (relative state
folder, SQLite, in-process bus, local executors, the local model, its own Temporal dev server), a new home
folder, cwd the checkout. The product runs in a network namespace of its own so its default ports (8000,
7233, 8233, 8181) are free whatever else this machine runs; the virtualenv is made beforehand (outside the
namespace, which has no route to the package registries) by the same script `make run` calls first, which then
finds nothing to do.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def demo_lines(readme: str) -> list[list[str]]:
    """The commands of the fenced block that follows 'Once `make run` prints', comments dropped."""
    after = readme.split("Once `make run` prints", 1)[1]
    block = re.search(r"```bash\n(.*?)```", after, re.S)
    assert block, "the README's demo block is missing"
    return [shlex.split(line, comments=True) for line in block.group(1).splitlines() if line.strip()]


def copy_checkout(dest: Path) -> None:
    """What a clone holds: the tracked files plus new ones not ignored (so uncommitted work is tested too)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    files = [f for f in listed if f and (ROOT / os.fsdecode(f)).is_file()]
    archive = dest.parent / "checkout.tar"
    subprocess.run(["tar", "--null", "-T", "-", "-cf", str(archive)], cwd=ROOT, input=b"\0".join(files), check=True)
    subprocess.run(["tar", "-xf", str(archive), "-C", str(dest)], check=True)
    archive.unlink()


def newcomer_env(home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WEGENT_", "PYTEST_", "OPENAI_", "EXECUTOR_"))
        and k not in ("MAX_CONCURRENT_TASKS", "VIRTUAL_ENV", "PYTHONPATH")
    }
    env["HOME"] = str(home)
    env["PATH"] = ":".join(p for p in env.get("PATH", "").split(":") if ".venv" not in p)
    return env


def processes_of(path: Path) -> list[str]:
    """Every live process whose command line, executable or working directory lies in ``path``."""
    found = []
    needle = str(path)
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            cmdline = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()[0]
            where = " ".join(os.readlink(Path(entry.path, link)) for link in ("exe", "cwd"))
        except OSError:
            continue
        if state != "Z" and (needle in cmdline or needle in where):
            found.append(f"{entry.name}: {cmdline[:160]}")
    return found


@pytest.fixture
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    clone = tmp_path_factory.mktemp("newcomer") / "wegent"
    clone.mkdir()
    copy_checkout(clone)
    yield clone
    for line in processes_of(clone):  # a failed assertion must not leave the product running
        os.kill(int(line.split(":", 1)[0]), signal.SIGKILL)


def test_readme_demo_from_a_fresh_checkout(checkout: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    # What `make run` installs first (virtualenv, web app, local model), with the real home for pip's and
    # npm's caches; `make run` below runs the same script again and finds nothing left to do.
    made = subprocess.run(
        ["bash", "scripts/provision.sh"], cwd=checkout, env={**newcomer_env(home), "HOME": os.environ["HOME"]}
    )
    assert made.returncode == 0, "scripts/provision.sh failed"

    env = newcomer_env(home)
    output = tmp_path / "make-run.log"
    began = time.monotonic()
    with output.open("wb") as out:
        product = subprocess.Popen(
            ["unshare", "--net", "--", "bash", "-c", "ip link set lo up && exec make run"],
            cwd=checkout,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the Ctrl-C below reaches make and everything it ran
        )
    try:
        deadline = time.monotonic() + 600
        while "Wegent is up" not in output.read_text(errors="replace"):
            assert product.poll() is None, f"make run exited:\n{output.read_text(errors='replace')[-3000:]}"
            assert time.monotonic() < deadline, f"not up in 600 s:\n{output.read_text(errors='replace')[-3000:]}"
            time.sleep(0.5)
        up_after = time.monotonic() - began
        banner = output.read_text(errors="replace")
        assert f"State          {checkout / '.wegent'}" in banner
        assert "demo-solo" in banner and "demo-pipeline" in banner, banner

        password = (checkout / ".wegent" / "admin_password").read_text().strip()
        results = []
        for argv in demo_lines(README.read_text()):
            results.append(
                subprocess.run(
                    ["nsenter", f"--net=/proc/{product.pid}/ns/net", "--", *argv],
                    cwd=checkout,
                    env=env,
                    input=password + "\n" if argv[1] == "login" else "",
                    capture_output=True,
                    text=True,
                    timeout=600,
                )
            )
            assert results[-1].returncode == 0, f"{shlex.join(argv)}:\n{results[-1].stdout}\n{results[-1].stderr}"
        login, solo, pipeline, tasks, logs = results
        assert "logged in to http://127.0.0.1:8000 as admin" in login.stdout
        for run, bots in ((solo, 1), (pipeline, 3)):
            assert "[COMPLETED]" in run.stderr, run.stderr
            assert run.stdout.count("── ") == bots, run.stdout  # one header per bot that answered
            assert "relays no live events" not in run.stderr  # `wegent up` streams through its in-process bus
        assert len(re.findall(r"\bCOMPLETED\b", tasks.stdout)) == 2, tasks.stdout
        usage = re.search(r"\[COMPLETED\] tokens in (\d+), out (\d+)", logs.stderr)
        assert usage and int(usage.group(1)) > 0 and int(usage.group(2)) > 0, logs.stderr
        assert usage.group(0) in solo.stderr  # the same totals as when it ran
    finally:
        if product.poll() is None:
            os.killpg(product.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        try:
            product.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(product.pid, signal.SIGKILL)
            raise
    deadline = time.monotonic() + 30
    while (left := processes_of(checkout)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not left, "processes left after Ctrl-C:\n" + "\n".join(left)
    print(f"\nnewcomer: `make run` printed 'Wegent is up' after {up_after:.1f} s")
