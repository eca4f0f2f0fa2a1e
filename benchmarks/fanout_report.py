"""What benchmarks/socket_fanout.py prints: each round's figures for Wegent and the floor, and the verdicts."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field

from benchmarks.results import STATS_HEADERS, Stats, ms, ratio, stats_row, table, verdict

TARGET_P95_AT_100 = 0.050
TARGET_P95_AT_1000 = 0.500
TARGET_FLOOR_RATIO = 0.7


@dataclass
class Side:
    """One server's figures in a round: Wegent's API or the bare floor server."""

    connected: int = 0
    joined: int = 0
    done: int = 0
    complete: int = 0  # viewers whose text, assembled by offset, equals the model's whole answer
    chunks_received: int = 0
    latency: Stats = field(default_factory=lambda: Stats.of([]))
    first_chunk: Stats = field(default_factory=lambda: Stats.of([]))
    last_chunk: Stats = field(default_factory=lambda: Stats.of([]))
    lag: Stats = field(default_factory=lambda: Stats.of([]))
    connect_seconds: float = math.nan
    stream_seconds: float = math.nan
    server_cpu: float = math.nan  # CPU seconds of the server process over the stream
    load_cpu: float = math.nan  # share of one core, all load processes
    error: str = ""

    @property
    def deliveries_per_core_second(self) -> float:
        return self.chunks_received / self.server_cpu if self.server_cpu else math.nan


@dataclass
class RoundResult:
    clients: int
    wegent: Side = field(default_factory=Side)
    floor: Side = field(default_factory=Side)
    events: int = 0  # chat:chunk events of the stream (after coalescing)

    @property
    def ratio(self) -> float:
        return self.wegent.deliveries_per_core_second / self.floor.deliveries_per_core_second


def report(results: list[RoundResult], args: argparse.Namespace) -> None:
    print(
        "Chunk latency, produced (worker relay's Redis XADD / floor's emit) → viewer handler, all chunks of all viewers"
    )
    rows = []
    for r in results:
        for name, side in (("wegent", r.wegent), ("floor", r.floor)):
            rows.append(
                [*stats_row(f"{r.clients} {name}", side.latency, 1), ms(side.first_chunk.p50), ms(side.last_chunk.p50)]
            )
    print(table([*STATS_HEADERS, "first chunk p50", "last chunk p50"], rows))

    print("\nDeliveries and CPU")
    rows = []
    for r in results:
        for name, side in (("wegent", r.wegent), ("floor", r.floor)):
            rows.append(
                [
                    f"{r.clients} {name}",
                    f"{side.connected}/{r.clients}",
                    f"{side.complete}/{r.clients}",
                    f"{r.events}",
                    f"{side.chunks_received}",
                    f"{side.stream_seconds:.1f}",
                    f"{side.server_cpu:.2f}",
                    f"{side.deliveries_per_core_second:,.0f}",
                    "-" if math.isnan(side.load_cpu) else f"{100 * side.load_cpu:.0f}%",
                    ms(side.lag.p95),
                    side.error[:50],
                ]
            )
    headers = [
        "",
        "connected",
        "whole text",
        "chunk events",
        "deliveries",
        "stream s",
        "server CPU s",
        "deliveries/core-s",
        "load CPU",
        "load lag p95 ms",
        "error",
    ]
    print(table(headers, rows))
    print("(whole text: viewers whose text, each offset once in offset order, equals the model's answer and who got")
    print(" chat:done; chunk events: chat:chunk events of the stream after coalescing, which the floor replays too;")
    print(" deliveries/core-s: chunks delivered to viewers per CPU second of the server process (API or floor);")
    print(" load lag: the load loop's timer overshoot, i.e. queueing inside the load generator.)")

    print("\nAgainst the targets")
    rows = []
    for r in results:
        target = {100: TARGET_P95_AT_100, 1000: TARGET_P95_AT_1000}.get(r.clients)
        if target is None:
            continue
        p95 = r.wegent.latency.p95
        rows.append(
            [
                f"p95 at {r.clients} clients",
                f"{ms(p95)} ms",
                f"{target * 1000:.0f} ms",
                ratio(p95, target),
                verdict(p95, target),
            ]
        )
        whole = r.wegent.complete == r.clients and not r.wegent.error
        rows.append(
            [
                f"whole text at {r.clients} clients",
                f"{r.wegent.complete}",
                f"{r.clients}",
                f"{r.wegent.complete / r.clients:.2f}",
                "PASS" if whole else "FAIL",
            ]
        )
        rows.append(
            [
                f"deliveries/core-s vs floor at {r.clients}",
                f"{r.wegent.deliveries_per_core_second:,.0f} / {r.floor.deliveries_per_core_second:,.0f}",
                f">= {TARGET_FLOOR_RATIO}",
                f"{r.ratio:.2f}",
                "PASS" if r.ratio >= TARGET_FLOOR_RATIO else "FAIL",
            ]
        )
    print(
        table(["metric", "value", "target", "ratio", "verdict"], rows)
        if rows
        else "(no round with 100 or 1000 clients)"
    )
