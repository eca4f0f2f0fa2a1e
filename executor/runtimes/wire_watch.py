"""Remember what the last model request on the wire did: its URL, HTTP status and network error.

SDK-based agent frameworks (Agno) turn the SDK's exceptions into an error event that carries only a message;
the watch is how a runtime still tells a 401 from a 503 or a timeout, which decides the error code and whether a
retry makes sense.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any


def make_wire_watch(httpx2: Any) -> Any:
    """An httpx2 transport that remembers the last model request's URL, status and network error.

    Agno turns SDK exceptions into an error event carrying only a message; this is how the runtime still knows
    whether it was a 401, a 503 or a timeout, which decides the error code and whether retrying makes sense.
    """

    class WatchedStream(httpx2.AsyncByteStream):  # type: ignore[misc, name-defined]
        def __init__(self, inner: Any, watch: Any) -> None:
            self.inner = inner
            self.watch = watch

        async def __aiter__(self) -> AsyncIterator[bytes]:
            try:
                async for chunk in self.inner:
                    yield chunk
            except httpx2.TransportError as exc:
                self.watch.error = exc
                raise

        async def aclose(self) -> None:
            await self.inner.aclose()

    class WireWatch(httpx2.AsyncBaseTransport):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            self.inner = httpx2.AsyncHTTPTransport()
            self.url = ""
            self.status: int | None = None
            self.error: Exception | None = None

        async def handle_async_request(self, request: Any) -> Any:
            self.url = f"{request.url.scheme}://{request.url.netloc.decode()}{request.url.path}"
            self.status, self.error = None, None
            try:
                response = await self.inner.handle_async_request(request)
            except httpx2.TransportError as exc:
                self.error = exc
                raise
            self.status = response.status_code
            return httpx2.Response(
                status_code=response.status_code,
                headers=response.headers,
                stream=WatchedStream(response.stream, self),
                extensions=response.extensions,
                request=request,
            )

        async def aclose(self) -> None:
            await self.inner.aclose()

    return WireWatch()
