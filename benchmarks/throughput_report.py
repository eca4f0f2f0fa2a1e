"""What the throughput benchmark measured per scenario (``Result``), its tables and the checks of the cap."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from benchmarks.results import Stats, ms, table

TARGET_PER_MINUTE = 400.0


@dataclass
class Result:
    label: str
    tasks: int
    cap: int
    hosts: list[str] = field(default_factory=list)
    seconds: float = math.nan
    submit_seconds: float = math.nan
    completed: int = 0
    failures: list[str] = field(default_factory=list)
    slots_sampled: dict[str, int] = field(default_factory=dict)  # host -> max gauge value seen
    model_peak: dict[str, int] = field(default_factory=dict)  # host (or "all") -> most model calls in flight
    spread: dict[str, int] = field(default_factory=dict)  # host -> tasks whose sandbox it started
    pending_peak: int = 0
    position_samples: int = 0
    position_errors: list[str] = field(default_factory=list)
    rss_mb: dict[str, float] = field(default_factory=dict)
    activities: list[str] = field(default_factory=list)  # one task's activities, in order
    phases: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # activity -> (queued, ran) s

    @property
    def per_minute(self) -> float:
        return self.tasks / self.seconds * 60 if self.seconds and not math.isnan(self.seconds) else math.nan


def report(results: list[Result], floor: Result | None) -> None:
    rows = []
    for r in [*results, *([floor] if floor else [])]:
        peaks = ", ".join(f"{h}: {v}" for h, v in sorted(r.model_peak.items()))
        slots = ", ".join(f"{v}" for _, v in sorted(r.slots_sampled.items())) or "-"
        rows.append(
            [
                r.label,
                f"{r.completed}/{r.tasks}",
                f"{r.seconds:.1f}",
                f"{r.per_minute:.0f}",
                f"{r.per_minute / floor.per_minute:.2f}" if floor and floor.per_minute else "-",
                f"{r.submit_seconds:.1f}",
                slots,
                peaks,
            ]
        )
    print(f"Throughput with MAX_CONCURRENT_TASKS={results[0].cap if results else '-'} per host (instant model)")
    headers = ["scenario", "done", "seconds", "tasks/min", "x floor", "submit s", "slots max (sampled)", "model peak"]
    print(table(headers, rows))
    print("\nQueue and placement")
    rows = []
    for r in results:
        positions = "ok" if not r.position_errors else "; ".join(r.position_errors)
        spread = ", ".join(f"{h}: {n}" for h, n in sorted(r.spread.items()))
        rows.append([r.label, str(r.pending_peak), f"{r.position_samples} samples, {positions}", spread])
    print(table(["scenario", "PENDING peak", "queuePosition 1..k in order", "tasks per host"], rows, left=True))
    print("\nMemory at the end (RSS MB)")
    rows = [
        [r.label, what, f"{mb:.0f}"] for r in [*results, *([floor] if floor else [])] for what, mb in r.rss_mb.items()
    ]
    print(table(["scenario", "process", "RSS MB"], rows))
    for r in results:
        if r.phases:
            sampled = max(len(values) for values in r.phases.values())
            print(f"\n{r.label}: activity queue wait and run time (ms, {sampled} tasks sampled from the history)")
            rows = []
            for name, values in r.phases.items():
                queued = Stats.of(q for q, _ in values)
                ran = Stats.of(x for _, x in values)
                rows.append([name, ms(queued.p50, 0), ms(queued.max, 0), ms(ran.p50, 0), ms(ran.max, 0)])
            print(table(["activity", "queued p50", "queued max", "ran p50", "ran max"], rows))
    if results and results[0].activities:
        print(f"\nActivities per solo task ({len(results[0].activities)}): {', '.join(results[0].activities)}")
    for r in results:
        for failure in r.failures[:10]:
            print(f"FAILED {r.label}: {failure}")
    local = next((r for r in results if r.label == "local"), None)
    if local is not None:
        verdict = "PASS" if local.per_minute >= TARGET_PER_MINUTE else "FAIL"
        print(f"\nlocal, one host: {local.per_minute:.0f} tasks/min (target >= {TARGET_PER_MINUTE:.0f}): {verdict}")


def cap_violations(results: list[Result]) -> list[str]:
    problems = []
    for r in results:
        for host, value in r.slots_sampled.items():
            if value > r.cap:
                problems.append(f"{r.label}: {value} agent steps at once on {host} (cap {r.cap})")
        for host, value in r.model_peak.items():
            limit = r.cap * (len(r.hosts) or 1) if host in ("all", "?") else r.cap
            if value > limit:
                problems.append(f"{r.label}: {value} model calls at once on {host} (limit {limit})")
    return problems
