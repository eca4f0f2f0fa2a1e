"""The figures of a benchmark: percentiles and their summary, milliseconds, ratios to targets, plain-text tables."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


def percentile(ordered: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of already sorted values, linear between closest ranks (numpy's default)."""
    if not ordered:
        return math.nan
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Stats:
    n: int
    min: float
    p50: float
    p95: float
    p99: float
    max: float
    mean: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Stats:
        ordered = sorted(values)
        if not ordered:
            return cls(0, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan)
        return cls(
            n=len(ordered),
            min=ordered[0],
            p50=percentile(ordered, 50),
            p95=percentile(ordered, 95),
            p99=percentile(ordered, 99),
            max=ordered[-1],
            mean=sum(ordered) / len(ordered),
        )


def ms(seconds: float, digits: int = 1) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.{digits}f}"


def ratio(value: float, target: float) -> str:
    """How the value compares with its target (< 1.00x meets it)."""
    return "-" if math.isnan(value) else f"{value / target:.2f}x"


def verdict(value: float, target: float) -> str:
    if math.isnan(value):
        return "NO DATA"
    return "PASS" if value < target else "FAIL"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], left: bool = False) -> str:
    """A plain-text table: first column left-aligned, the others right-aligned (or all left with `left`)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        rest = zip(row[1:], widths[1:], strict=True)
        parts = [row[0].ljust(widths[0])] + [c.ljust(w) if left else c.rjust(w) for c, w in rest]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(row) for row in cells[1:])])


def stats_row(label: str, stats: Stats, digits: int = 1) -> list[str]:
    """label, n, min, p50, p95, p99, max (milliseconds)."""
    return [
        label,
        str(stats.n),
        ms(stats.min, digits),
        ms(stats.p50, digits),
        ms(stats.p95, digits),
        ms(stats.p99, digits),
        ms(stats.max, digits),
    ]


STATS_HEADERS = ["", "n", "min ms", "p50 ms", "p95 ms", "p99 ms", "max ms"]
