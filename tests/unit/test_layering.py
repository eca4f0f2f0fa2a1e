"""The import rules that hold today, enforced by reading every module's imports (functions' own included).

- `wegent/` (the kernel; its `cli` is an entry point) imports no process package.
- `workflows/` (deterministic workflow code) imports only the kernel and itself.
- `executor/` (what runs inside a sandbox) imports only the kernel and itself.

The architecture issue's target adds a domain package that `api`, `activities` and `worker` share; until then
`activities` still reach into `api` for the database models and services, and this test does not cover them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROCESS_PACKAGES = {"api", "worker", "activities", "executor", "workflows"}

RULES = {
    # package: (top-level packages it may import besides the standard library and third parties, excluded paths)
    "wegent": ({"wegent"}, ("wegent/cli/",)),
    "workflows": ({"wegent", "workflows"}, ()),
    "executor": ({"wegent", "executor"}, ()),
}


def imported_packages(path: Path) -> set[tuple[str, int]]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {(alias.name.split(".")[0], node.lineno) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add((node.module.split(".")[0], node.lineno))
    return found


@pytest.mark.parametrize("package", sorted(RULES))
def test_package_imports_follow_the_layering(package: str) -> None:
    allowed, excluded = RULES[package]
    broken = []
    for path in sorted((ROOT / package).rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith(excluded):
            continue
        for name, line in imported_packages(path):
            if name in PROCESS_PACKAGES and name not in allowed:
                broken.append(f"{relative}:{line} imports {name}")
    assert not broken, f"{package}/ may import only {sorted(allowed)} of Wegent's packages:\n" + "\n".join(broken)


def test_the_rule_reader_sees_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import os\n\ndef f():\n    from api.db import models\n    import worker.main\n")
    assert {name for name, _ in imported_packages(module)} == {"os", "api", "worker"}
