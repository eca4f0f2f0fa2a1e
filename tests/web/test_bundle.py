"""The chat route's initial JavaScript stays small: ≤ 350 KB gzipped (issue 15's budget).

Measured from the production build's manifest: the entry chunk, the chat route's chunk, and every chunk they
import statically (what a browser must load before the chat page can render). Lazily loaded chunks (the
markdown renderer, the usage chart, the sign-in page) are reported but not counted.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

BUDGET = 350 * 1024


def _closure(manifest: dict, keys: list[str]) -> set[str]:
    seen: set[str] = set()
    stack = list(keys)
    while stack:
        key = stack.pop()
        if key in seen:
            continue
        seen.add(key)
        stack.extend(manifest[key].get("imports", []))
    return seen


def _gz(path: Path) -> int:
    return len(gzip.compress(path.read_bytes(), compresslevel=9))


def test_chat_route_initial_javascript_is_within_budget(built_app: Path) -> None:
    manifest = json.loads((built_app / ".vite" / "manifest.json").read_text())
    chat = "src/routes/Chat.tsx"
    assert manifest["index.html"].get("isEntry") and chat in manifest["index.html"]["dynamicImports"]
    initial = _closure(manifest, ["index.html", chat])
    sizes = {manifest[k]["file"]: _gz(built_app / manifest[k]["file"]) for k in initial}
    total = sum(sizes.values())
    lazy = {v["file"]: _gz(built_app / v["file"]) for k, v in manifest.items() if k not in initial and "file" in v}
    print(f"\nchat route initial JS: {total / 1024:.1f} KB gzipped in {len(sizes)} files: {sizes}")
    print(f"loaded later: { {f: f'{s / 1024:.1f} KB' for f, s in lazy.items()} }")
    assert total <= BUDGET, f"the chat route loads {total / 1024:.1f} KB gzipped before it renders (budget 350 KB)"
    # The markdown renderer and the usage chart (its chart library) are split out of the initial load.
    assert not any("MarkdownRenderer" in f or "UsageChart" in f for f in sizes)
    assert any("UsageChart" in f for f in lazy)
