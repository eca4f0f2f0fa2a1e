"""Fault-injection tests reuse the end-to-end fixtures (scripted model server, real stacks)."""

from tests.e2e.conftest import containers_for_task, model, model_server, stack_factory  # noqa: F401
