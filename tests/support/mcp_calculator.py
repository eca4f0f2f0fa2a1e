"""A tiny MCP server over stdio for runtime tests: ``python tests/support/mcp_calculator.py``.

Self-contained on purpose (it imports nothing from this repository), so a test can also hand its source to
``python -c`` inside the executor container, where ``tests/`` is not installed.

Tools:
- ``add(a, b)`` -> the sum as text
- ``whisper(text)`` -> ``"secret:" + text`` and the value of ``$MCP_SECRET_SUFFIX`` (proves env is passed)
"""

from __future__ import annotations

import os

from mcp.server.mcpserver import MCPServer

server = MCPServer("calculator")


@server.tool(description="Add two integers and return the sum.")
def add(a: int, b: int) -> str:
    return str(a + b)


@server.tool(description="Echo text back with a marker and the MCP_SECRET_SUFFIX environment variable.")
def whisper(text: str) -> str:
    return f"secret:{text}{os.environ.get('MCP_SECRET_SUFFIX', '')}"


if __name__ == "__main__":
    server.run("stdio")
