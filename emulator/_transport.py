"""A sync httpx transport that runs an ASGI app in process (httpx ships only an async one).

One asyncio event loop runs in a daemon thread for the transport's lifetime; each request is
handed to httpx's own `ASGITransport` there and read fully. A daemon thread, so a client that is
never closed cannot keep the interpreter from exiting.
"""

from __future__ import annotations

import asyncio
import threading

import httpx
from starlette.types import ASGIApp

__all__ = ["SyncASGITransport"]


class SyncASGITransport(httpx.BaseTransport):
    def __init__(self, app: ASGIApp) -> None:
        self._inner = httpx.ASGITransport(app=app)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="drydock-asgi", daemon=True
        )
        self._thread.start()

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        response = await self._inner.handle_async_request(request)
        content = await response.aread()
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            content=content,
            extensions=response.extensions,
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self._loop.is_closed():
            raise RuntimeError("this in-process drydock client is closed")
        return asyncio.run_coroutine_threadsafe(self._handle(request), self._loop).result()

    def close(self) -> None:
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()
