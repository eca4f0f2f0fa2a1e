"""The machine a benchmark ran on and how busy it was: the header and footer of every report, and CPU per process.

Other work on the machine skews every figure, so each report says what the machine is and its load before and
after the run.
"""

from __future__ import annotations

import math
import os
import platform
from pathlib import Path
from typing import Any

from benchmarks.results import table


def machine_info() -> dict[str, str]:
    cpu_model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": cpu_model,
        "memory": memory,
        "load average (1/5/15 min) at start": load,
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def print_header(title: str, parameters: dict[str, Any]) -> None:
    print(f"\n=== {title} ===")
    print(table(["machine", ""], list(machine_info().items()), left=True))
    print()
    print(table(["parameter", "value"], [[k, v] for k, v in parameters.items()], left=True))
    print(flush=True)


def print_footer() -> None:
    """Other work on the machine skews every number here: say how busy it was when the run ended."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nload average (1/5/15 min) at end: {load} on {len(os.sched_getaffinity(0))} CPUs", flush=True)


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of one process and its live child processes (uvicorn's workers), from /proc."""
    total = 0.0
    for stat in (_stat_fields(pid), *(_stat_fields(child) for child in _children(pid))):
        if stat is None:
            if not total:
                return math.nan
            continue
        total += (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _stat_fields(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat_fields(int(entry.name))
            if stat is not None and int(stat[1]) == pid:
                found.append(int(entry.name))
    return found
