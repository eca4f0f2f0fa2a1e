"""A lean HTTP/1.1 keep-alive client for load generation.

The load generator shares this 2-core machine with the server it measures, so every CPU millisecond it burns
is taken from the server and shows up as server latency. httpx spends about 0.5 ms of CPU per request on its
abstractions; this client sends a pre-built request and reads the status line, the headers and a
``Content-Length`` body (what uvicorn sends for non-streamed responses), nothing more. Correctness checks
of the answers stay with httpx in the benchmarks; this is only the stopwatch's hand.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit


class HttpError(Exception):
    pass


class LeanClient:
    """One keep-alive connection; one request at a time."""

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self._header_block = "".join(f"{k}: {v}\r\n" for k, v in {"Host": parts.netloc, **headers}.items())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._requests: dict[str, bytes] = {}

    async def connect(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)

    def _request(self, path: str) -> bytes:
        request = self._requests.get(path)
        if request is None:
            request = f"GET {path} HTTP/1.1\r\n{self._header_block}\r\n".encode("latin-1")
            self._requests[path] = request
        return request

    async def get(self, path: str) -> tuple[int, bytes]:
        """Status and body of ``GET path``."""
        if self._writer is None or self._reader is None:
            await self.connect()
        assert self._writer is not None and self._reader is not None
        self._writer.write(self._request(path))
        head = await self._reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        try:
            status = int(lines[0].split(b" ", 2)[1])
        except (IndexError, ValueError) as exc:
            raise HttpError(f"bad status line {lines[0][:80]!r}") from exc
        length = None
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
                break
        if length is None:
            raise HttpError("response without Content-Length")
        return status, await self._reader.readexactly(length)

    async def aclose(self) -> None:
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except OSError:
                pass
            self._writer = self._reader = None
