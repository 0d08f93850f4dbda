"""Clocks for drydock.sdk: where its waits and retries read the time and sleep.

`SystemClock` (default) looks `time.time`/`time.sleep` up at call time, so a client-side time
warp (freezegun, drydock.testing's virtual time) applies to it. `EmulatorClock` drives an
in-process emulator's virtual clock: a sleep *advances* virtual time, firing the emulator's due
events, so `create_and_wait` over 10 virtual minutes returns at once. `RemoteEmulatorClock` does
the same against a drydock server through its `/_drydock/clock` API.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol, runtime_checkable

import httpx

__all__ = ["SDKClock", "SystemClock", "EmulatorClock", "RemoteEmulatorClock"]


@runtime_checkable
class SDKClock(Protocol):
    def now(self) -> float:
        """Seconds (any epoch; only differences are used)."""

    def sleep(self, seconds: float) -> None:
        """Let `seconds` pass."""

    async def asleep(self, seconds: float) -> None:
        """Let `seconds` pass without blocking the event loop."""


class SystemClock:
    """Real time (or whatever a time warp makes of `time.time`/`time.sleep`)."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class EmulatorClock:
    """The virtual clock of an in-process `drydock.emulator.Emulator`: sleeping advances it."""

    def __init__(self, emulator: Any) -> None:
        self.emulator = emulator

    def now(self) -> float:
        return self.emulator.clock.now()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.emulator.advance(seconds)

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)
        await asyncio.sleep(0)  # let other tasks see the new time


class RemoteEmulatorClock:
    """A drydock server's clock, read and advanced over `/_drydock/clock[/advance]`."""

    def __init__(
        self, base_url: str, admin_token: str | None = None, http: httpx.Client | None = None
    ) -> None:
        headers = {"X-Drydock-Admin-Token": admin_token} if admin_token else {}
        self._http = http or httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=30.0
        )

    def now(self) -> float:
        r = self._http.get("/_drydock/clock")
        r.raise_for_status()
        return float(r.json()["now"])

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._http.post("/_drydock/clock/advance", json={"seconds": seconds}).raise_for_status()

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)

    def close(self) -> None:
        self._http.close()
