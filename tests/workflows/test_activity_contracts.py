"""Both sides of the activity contract use one list of names: the workflows' calls and the worker's activities."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import activities
from workflows import activity_names

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"


def registered_names() -> dict[str, str]:
    """Every `@activity.defn` in the activities package: name → where it is defined."""
    found: dict[str, str] = {}
    for info in pkgutil.walk_packages(activities.__path__, "activities."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for owner in vars(module).values():
            if not isinstance(owner, type) or owner.__module__ != module.__name__:
                continue
            for attr in vars(owner).values():
                definition = getattr(attr, "__temporal_activity_definition", None)
                if definition is not None:
                    assert definition.name not in found, f"{definition.name} is registered twice"
                    found[definition.name] = f"{module.__name__}.{owner.__name__}"
    return found


def test_every_called_activity_is_implemented_and_every_implementation_is_called() -> None:
    assert set(registered_names()) == activity_names.ALL


def test_workflows_name_activities_only_through_the_contract() -> None:
    """A string literal as an activity's name would bypass the contract (and this test's other half)."""
    offenders = []
    for path in sorted(WORKFLOWS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr
                in {"execute_activity", "start_activity", "execute_local_activity", "start_local_activity"}
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                offenders.append(f"{path.name}:{node.lineno} {node.args[0].value!r}")
    assert not offenders, offenders
