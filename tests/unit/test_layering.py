"""The import rules of the architecture, enforced by reading every module's imports (functions' own included).

The kernel (`wegent/`) and the domain (`core/`) are what everything else stands on; the processes (`api`,
`worker` + `activities`) and the sandbox (`executor`) stand beside each other and never reach into one another.
Only `cli/`, the entry point that composes them (`wegent up` runs the API and a worker in one process), may import
everything. The README's Architecture section draws the same picture.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WEGENT_PACKAGES = {"wegent", "core", "workflows", "activities", "api", "worker", "executor", "cli"}

# package: the Wegent packages it may import (besides itself, the standard library and third parties)
RULES = {
    "wegent": set(),
    "workflows": {"wegent"},
    "executor": {"wegent"},
    "core": {"wegent", "workflows"},
    "activities": {"wegent", "workflows", "core", "executor"},  # it drives sandboxes through the executor's client
    "worker": {"wegent", "workflows", "core", "activities"},
    "api": {"wegent", "workflows", "core"},
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
    allowed = RULES[package] | {package}
    broken = []
    for path in sorted((ROOT / package).rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        for name, line in imported_packages(path):
            if name in WEGENT_PACKAGES and name not in allowed:
                broken.append(f"{relative}:{line} imports {name}")
    assert not broken, f"{package}/ may import only {sorted(allowed)} of Wegent's packages:\n" + "\n".join(broken)


def test_the_rule_reader_sees_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import os\n\ndef f():\n    from api.routers import tasks\n    import worker.main\n")
    assert {name for name, _ in imported_packages(module)} == {"os", "api", "worker"}
