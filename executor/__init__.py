"""The executor: an HTTP server inside a task's sandbox that runs one agent runtime per run.

It only depends on fastapi, uvicorn, httpx, pydantic, structlog, pyyaml and ``wegent.events`` /
``wegent.executor_api`` because the sandbox image ships nothing else.
"""
