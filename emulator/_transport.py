"""A sync httpx transport that runs an ASGI app in process (httpx ships only an async one).

One event loop lives in a daemon thread (an anyio blocking portal) for the transport's lifetime;
each request is handed to httpx's own `ASGITransport` there and read fully.
"""

from __future__ import annotations

import anyio.from_thread
import httpx

__all__ = ["SyncASGITransport"]


class SyncASGITransport(httpx.BaseTransport):
    def __init__(self, app) -> None:
        self._inner = httpx.ASGITransport(app=app)
        self._portal_cm = anyio.from_thread.start_blocking_portal()
        self._portal = self._portal_cm.__enter__()

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        response = await self._inner.handle_async_request(request)
        content = await response.aread()
        return httpx.Response(response.status_code, headers=response.headers, content=content,
                              extensions=response.extensions)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._portal.call(self._handle, request)

    def close(self) -> None:
        if self._portal_cm is not None:
            self._portal_cm.__exit__(None, None, None)
            self._portal_cm = None
