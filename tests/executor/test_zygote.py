"""executor.zygote: what a forked executor gets -- its own session, directory, environment and log -- and
how its end is recorded.

The zygote runs for real (a subprocess speaking its line protocol). Its entry point is swapped for a probe
that reports what the process sees, since a forked process's /proc/<pid>/environ still shows the zygote's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

ZYGOTE_WITH_PROBE = """
import json, os, sys
import executor.__main__ as entry
import executor.zygote as zygote

def probe(argv=None):
    print("to stdout")
    print("to stderr", file=sys.stderr)
    report = {"env": dict(os.environ), "cwd": os.getcwd(), "pid": os.getpid(), "sid": os.getsid(0),
              "stdin": os.readlink("/proc/self/fd/0")}
    with open(os.environ["PROBE_OUT"], "w") as fh:
        json.dump(report, fh)
    if os.environ.get("PROBE_SLEEP"):
        import time
        time.sleep(float(os.environ["PROBE_SLEEP"]))
    return int(os.environ.get("PROBE_EXIT", "0"))

entry.main = probe
zygote.serve(sys.stdin, sys.stdout)
"""


@pytest.fixture
def zygote() -> Iterator[subprocess.Popen[str]]:
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "ZYGOTE_ONLY": "inherited-by-nobody"}
    proc = subprocess.Popen(
        [sys.executable, "-c", ZYGOTE_WITH_PROBE],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    yield proc
    assert proc.stdin is not None
    proc.stdin.close()  # the zygote exits when its backend goes away
    assert proc.wait(10) == 0


def ask(zygote: subprocess.Popen[str], request: dict[str, Any]) -> dict[str, Any]:
    assert zygote.stdin is not None and zygote.stdout is not None
    zygote.stdin.write(json.dumps(request) + "\n")
    zygote.stdin.flush()
    return json.loads(zygote.stdout.readline())


def wait_for(path: Path, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)
    return path.read_text()


def request_for(tmp_path: Path, name: str, **env: str) -> dict[str, Any]:
    workdir = tmp_path / f"{name}-work"
    workdir.mkdir()
    return {
        "cwd": str(workdir),
        "env": {"EXECUTOR_TOKEN": "tok", "WEGENT_EXTRA": "yes", "PROBE_OUT": str(tmp_path / f"{name}.json"), **env},
        "log": str(tmp_path / f"{name}.log"),
        "exit_file": str(tmp_path / f"{name}.exit"),
    }


def test_a_forked_executor_has_exactly_its_own_environment_directory_session_and_log(zygote, tmp_path):
    request = request_for(tmp_path, "one", PROBE_EXIT="3")
    answer = ask(zygote, request)
    pid = answer["pid"]
    assert wait_for(tmp_path / "one.exit") == "3"
    report = json.loads((tmp_path / "one.json").read_text())
    assert report["env"] == request["env"]  # replaced: nothing of the zygote's own environment
    assert report["cwd"] == request["cwd"]
    assert report["pid"] == pid and report["sid"] == pid  # leads its own session and process group
    assert report["stdin"] == "/dev/null"
    log = (tmp_path / "one.log").read_text()
    assert "to stdout" in log and "to stderr" in log
    assert not Path(f"/proc/{pid}").exists()  # reaped by the zygote: no zombie left


def test_a_killed_executor_is_recorded_with_the_signal(zygote, tmp_path):
    answer = ask(zygote, request_for(tmp_path, "two", PROBE_SLEEP="60"))
    wait_for(tmp_path / "two.json")
    os.killpg(answer["pid"], signal.SIGKILL)
    assert wait_for(tmp_path / "two.exit") == str(-signal.SIGKILL)


def test_several_executors_and_a_bad_request(zygote, tmp_path):
    pids = [ask(zygote, request_for(tmp_path, f"n{i}"))["pid"] for i in range(3)]
    assert len(set(pids)) == 3
    for i in range(3):
        assert wait_for(tmp_path / f"n{i}.exit") == "0"
    assert ask(zygote, {"cwd": "/"}) == {"error": "request without 'env'"}
    assert "pid" in ask(zygote, request_for(tmp_path, "after"))  # still serving
