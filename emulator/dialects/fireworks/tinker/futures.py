"""Futures: a request id answered now, its result long-polled later (`retrieve_future`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractContextManager as ContextManager
from typing import Any

__all__ = ["FutureRecord", "Gone", "long_poll"]


class Gone(Exception):
    """A request id from an incarnation that was stopped (HTTP 410)."""


class FutureRecord:
    """One future: pending until `finish(body)`; long-polled by `long_poll`."""

    __slots__ = ("_waiters", "body", "dead", "model_id", "op", "request_id")

    def __init__(self, request_id: str, model_id: str | None, op: str) -> None:
        self.request_id, self.model_id, self.op = request_id, model_id, op
        self.body: dict[str, Any] | None = None
        self.dead = False
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future]] = []

    @property
    def done(self) -> bool:
        return self.body is not None or self.dead

    def finish(self, body: dict[str, Any] | None, dead: bool = False) -> None:
        """Complete once (later calls are ignored) and wake every waiter, on its own loop."""
        if self.done:
            return
        self.body, self.dead = body, dead
        waiters, self._waiters = self._waiters, []
        for loop, fut in waiters:
            try:
                loop.call_soon_threadsafe(_wake, fut)
            except RuntimeError:  # that loop has closed
                pass

    def fail(self, message: str, category: str = "server") -> None:
        self.finish({"error": message, "category": category})

    def add_waiter(self) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._waiters.append((loop, fut))
        return fut


def _wake(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_result(None)


async def long_poll(
    rec: FutureRecord,
    timeout_s: float,
    *,
    lock: ContextManager[Any],
    monotonic: Callable[[], float],
    check_gaps: Callable[[], float | None] = lambda: None,
) -> None:
    """Return when `rec` is done, or `timeout_s` (by `monotonic`) has passed. `check_gaps`
    fails ops whose sequence gap expired and says how soon the next one may: the wait wakes
    then to look again."""
    deadline = monotonic() + timeout_s
    while True:
        gap = check_gaps()
        with lock:
            if rec.done:
                return
            fut = rec.add_waiter()
        left = deadline - monotonic()
        if left <= 0:
            return
        wait_s = left if gap is None else min(left, gap + 0.01)
        try:
            await asyncio.wait_for(fut, wait_s)
        except asyncio.TimeoutError:
            if monotonic() >= deadline:
                return
