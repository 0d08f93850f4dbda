"""Test doubles shared by the sdk tests."""

from __future__ import annotations


class FakeClock:
    """A clock the sdk accepts (`now`, `sleep`, `asleep`) that records every sleep."""

    def __init__(self, t: float = 0.0) -> None:
        self.t, self.sleeps = t, []

    def now(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.t += s

    async def asleep(self, s: float) -> None:
        self.sleep(s)
