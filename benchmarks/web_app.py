"""The web app's two speed figures (issue 15): the chat route's initial JavaScript, and a 20,000-chunk answer.

1. Bundle: from the production build's manifest, the gzipped JavaScript a browser loads before the chat page can
   render (the entry, the chat route and what they import statically), against the 350 KB budget; the lazily
   loaded chunks are listed too.
2. Long answer: a real stack (API + worker + Temporal + MariaDB + Redis) serving the built app, Debian's Chromium
   through Playwright signed in on a task's page, and 20,000 `chat:chunk` events fed to the page's own socket
   listeners in bursts of 50 (tests/web/long_answer.py). Measured per round: frame intervals (requestAnimationFrame)
   and long main-thread tasks (> 50 ms) while they arrive and render. The floor, measured in the same run on the
   same page: the same text delivered as one chunk (rendering the final answer once, with no streaming).

Run: `.venv/bin/python benchmarks/web_app.py [--rounds 3]` (needs what `make test` provisions).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.environment import BenchEnv, log, run_main  # noqa: E402
from benchmarks.machine import print_footer, print_header  # noqa: E402
from benchmarks.results import STATS_HEADERS, Stats, ratio, stats_row, table  # noqa: E402
from tests.e2e.teams import team_yaml  # noqa: E402
from tests.support.model_server import ModelServer  # noqa: E402
from tests.web.long_answer import FEED  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "api" / "web_dist"
BUDGET = 350 * 1024
CHUNKS = 20_000
CHROMIUM = "/usr/bin/chromium"


def bundle_figures() -> tuple[int, dict[str, int], dict[str, int]]:
    """(initial gzipped bytes, initial files, lazy files) of the chat route, from the build's manifest."""
    subprocess.run(["bash", str(ROOT / "scripts" / "build_web.sh")], check=True, timeout=600)
    manifest = json.loads((DIST / ".vite" / "manifest.json").read_text())
    seen: set[str] = set()
    stack = ["index.html", "src/routes/Chat.tsx"]
    while stack:
        key = stack.pop()
        if key not in seen:
            seen.add(key)
            stack.extend(manifest[key].get("imports", []))

    def gz(file: str) -> int:
        return len(gzip.compress((DIST / file).read_bytes(), compresslevel=9))

    initial = {manifest[k]["file"]: gz(manifest[k]["file"]) for k in seen}
    lazy = {v["file"]: gz(v["file"]) for k, v in manifest.items() if k not in seen and "file" in v}
    return sum(initial.values()), initial, lazy


async def long_answer(env: BenchEnv, model: ModelServer, rounds: int) -> dict[str, list[dict[str, Any]]]:
    from playwright.async_api import async_playwright

    stack = await env.start_stack("web", WEGENT_EXECUTOR_BACKEND="local")
    prefix = "w" + uuid.uuid4().hex[:8]
    model.script([{"match": "*", "text": "ready"}])
    await asyncio.to_thread(
        stack.apply, team_yaml(prefix, model.openai_base_url, [{"bot": "chat"}], collaboration="solo")
    )
    task = await asyncio.to_thread(stack.create_task, f"{prefix}-team", "a long answer")
    env.track_task(task["id"])
    await asyncio.to_thread(stack.wait_state, task["id"], {"COMPLETED"}, 120)
    results: dict[str, list[dict[str, Any]]] = {"streamed": [], "floor": []}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
        )
        context = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
        page = await context.new_page()
        page.set_default_timeout(60_000)
        await page.goto(f"{stack.url}/login")
        await page.get_by_test_id("username").fill("admin")
        await page.get_by_test_id("password").fill(env.admin_password)
        await page.get_by_test_id("sign-in").click()
        await page.get_by_test_id("new-chat-page").wait_for()
        for index in range(rounds * 2):
            kind = "floor" if index % 2 else "streamed"  # interleaved, so both see the same machine load
            await page.goto(f"{stack.url}/tasks/{task['id']}")
            await page.locator("[data-testid=task-state][data-state=COMPLETED]").wait_for()
            result = await page.evaluate(FEED, [task["id"], CHUNKS, kind == "floor", 9_000_000 + index])
            if not result["text_ok"]:
                raise RuntimeError(f"round {index}: the rendered text is not the chunks in order")
            results[kind].append(result)
            log(f"{kind} round {index // 2 + 1}: rendered in {result['rendered_ms']:.0f} ms")
        await browser.close()
    return results


def report(initial: int, files: dict[str, int], lazy: dict[str, int], runs: dict[str, list[dict[str, Any]]]) -> None:
    print("\n## Chat route's initial JavaScript (gzipped)\n")
    print(
        table(
            ["figure", "value"],
            [
                ["initial (entry + chat route + static imports)", f"{initial / 1024:.1f} KB in {len(files)} files"],
                ["budget", f"{BUDGET / 1024:.0f} KB ({ratio(initial, BUDGET)} of it)"],
                [
                    "largest lazy chunks",
                    ", ".join(
                        f"{f.split('/')[-1]} {s / 1024:.1f} KB"
                        for f, s in sorted(lazy.items(), key=lambda x: -x[1])[:5]
                    ),
                ],
            ],
            left=True,
        )
    )
    print(f"\n## A {CHUNKS:,}-chunk answer in Chromium (all rounds pooled)\n")
    rows = []
    for kind in ("streamed", "floor"):
        # The page reports milliseconds; the shared table helpers take seconds.
        frames = [f / 1000 for r in runs[kind] for f in r["frame_list"]]
        longs = [t / 1000 for r in runs[kind] for t in r["long_task_list"]]
        rows.append(stats_row(f"{kind}: frame interval", Stats.of(frames)))
        rows.append(stats_row(f"{kind}: long task (> 50 ms)", Stats.of(longs)))
        rows.append(stats_row(f"{kind}: until rendered", Stats.of([r["rendered_ms"] / 1000 for r in runs[kind]])))
    print(table(STATS_HEADERS, rows))
    streamed = Stats.of([r["rendered_ms"] for r in runs["streamed"]])
    floor = Stats.of([r["rendered_ms"] for r in runs["floor"]])
    print(f"\nstreamed / floor, until rendered (p50): {ratio(streamed.p50, floor.p50)}")


async def main(args: argparse.Namespace) -> int:
    print_header(
        "Wegent web app: bundle size and a long streamed answer (benchmarks/web_app.py)",
        {
            "bundle": "production build (scripts/build_web.sh), gzip level 9",
            "answer": f"{CHUNKS:,} chunks in bursts of 50 per macrotask to the chat page's socket listeners",
            "floor": "the same text as one chunk, on the same page, rounds interleaved",
            "rounds": f"{args.rounds} of each",
            "browser": "Debian's chromium through Playwright, headless, 1280x800",
        },
    )
    initial, files, lazy = await asyncio.to_thread(bundle_figures)
    model = ModelServer().start()
    try:
        async with BenchEnv("web-app", keep_logs=args.keep_logs) as env:
            runs = await long_answer(env, model, args.rounds)
    finally:
        model.stop()
    report(initial, files, lazy, runs)
    print_footer()
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep-logs", action="store_true")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(run_main(main(parse_args())))
