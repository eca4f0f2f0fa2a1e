"""How a Ghost names the test MCP calculator server (tests/support/mcp_calculator.py) for each backend.

The server runs inside the agent's sandbox, on the sandbox's own interpreter, from source passed on the
command line: tests/ is not in the executor image, and a root worker's local agents run as uids of their own
that may not read this checkout (activities/executors/agent_user.py).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

MCP_CALCULATOR = Path(__file__).resolve().with_name("mcp_calculator.py")


def mcp_calculator(backend: str = "local") -> dict[str, Any]:
    if backend == "docker":
        command = "/opt/venv/bin/python"  # the image's interpreter
    else:  # a root worker's agents find their own `python` first on their PATH; otherwise they run as we do
        command = "python" if os.geteuid() == 0 else sys.executable
    return {"command": command, "args": ["-c", MCP_CALCULATOR.read_text()]}
