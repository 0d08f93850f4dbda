"""Clocks: the only source of time for the emulator core.

Every transition and fault is an event scheduled on the clock. A `VirtualClock` moves only when
advanced and fires due events in (time, seq) order; wall and scaled clocks fire due events lazily,
whenever the control plane looks at the clock (`run_due`), so nothing in the emulator sleeps.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time as _time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Protocol

from .errors import ClockCapExceeded, ClockWentBackwards

__all__ = [
    "Clock",
    "VirtualClock",
    "WallClock",
    "ScaledClock",
    "ScheduledEvent",
    "DEFAULT_EPOCH",
    "rfc3339",
]

# Virtual time starts here unless told otherwise, so logs are identical run to run.
DEFAULT_EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()


def rfc3339(ts: float) -> str:
    """RFC 3339 UTC with microseconds and `Z`, the form the services' timestamps take."""
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(order=True)
class ScheduledEvent:
    when: float
    seq: int
    callback: Callable[[], None] = field(compare=False)
    label: str = field(compare=False, default="")
    cancelled: bool = field(compare=False, default=False)

    def cancel(self) -> None:
        self.cancelled = True


class Clock(Protocol):
    """What the core needs from a clock."""

    start: float

    def now(self) -> float:
        """Seconds since the Unix epoch (virtual or real)."""

    def elapsed(self) -> float:
        """Seconds since the clock's start."""

    def schedule(
        self, delay: float, callback: Callable[[], None], label: str = ""
    ) -> ScheduledEvent:
        """Run `callback` once `delay` seconds have passed on this clock."""

    def run_due(self) -> int:
        """Fire every event that is due now; return how many fired."""

    def advance(self, seconds: float) -> float:
        """Move time forward (virtual clocks) or shift it (scaled clocks); return the new now."""

    def sleep(self, seconds: float) -> None:
        """Wait `seconds` of this clock's time."""


class _EventHeap:
    """Pending events keyed by (time, seq): ties fire in the order they were scheduled."""

    def __init__(self) -> None:
        self._heap: list[ScheduledEvent] = []
        self._seq = itertools.count()
        self.lock = threading.RLock()

    def push(self, when: float, callback: Callable[[], None], label: str) -> ScheduledEvent:
        ev = ScheduledEvent(when, next(self._seq), callback, label)
        with self.lock:
            heapq.heappush(self._heap, ev)
        return ev

    def pop_due(self, now: float) -> ScheduledEvent | None:
        with self.lock:
            while self._heap and self._heap[0].cancelled:
                heapq.heappop(self._heap)
            if self._heap and self._heap[0].when <= now:
                return heapq.heappop(self._heap)
            return None

    def next_time(self) -> float | None:
        with self.lock:
            while self._heap and self._heap[0].cancelled:
                heapq.heappop(self._heap)
            return self._heap[0].when if self._heap else None

    def __len__(self) -> int:
        with self.lock:
            return sum(1 for e in self._heap if not e.cancelled)


class _ScheduledClock:
    """What every clock shares: a start, an event heap under one lock, and firing due events."""

    start: float
    _events: _EventHeap
    lock: threading.RLock

    def now(self) -> float:  # pragma: no cover - each clock defines it
        raise NotImplementedError

    def elapsed(self) -> float:
        return self.now() - self.start

    def schedule(
        self, delay: float, callback: Callable[[], None], label: str = ""
    ) -> ScheduledEvent:
        return self._events.push(self.now() + max(0.0, float(delay)), callback, label)

    def pending(self) -> int:
        return len(self._events)

    def next_event_time(self) -> float | None:
        return self._events.next_time()

    def run_due(self) -> int:
        fired = 0
        with self.lock:
            while (ev := self._events.pop_due(self.now())) is not None:
                ev.callback()
                fired += 1
        return fired


class VirtualClock(_ScheduledClock):
    """Time moves only when advanced. The default clock in tests.

    `cap_s` bounds the total virtual time since start: an advance beyond it raises
    `ClockCapExceeded` instead of letting a runaway poll loop spin for virtual years.
    """

    kind = "virtual"

    def __init__(self, start: float = DEFAULT_EPOCH, cap_s: float = 90 * 86400.0) -> None:
        self.start = float(start)
        self.cap_s = float(cap_s)
        self._now = float(start)
        self._events = _EventHeap()
        self.lock = self._events.lock

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ClockWentBackwards(f"cannot advance by {seconds} s")
        return self.advance_to(self._now + seconds)

    def advance_to(self, target: float) -> float:
        with self.lock:
            if target < self._now:
                raise ClockWentBackwards(f"cannot move from {self._now} back to {target}")
            if target - self.start > self.cap_s:
                raise ClockCapExceeded(
                    f"advancing to +{target - self.start:.0f} s passes the virtual clock's cap of "
                    f"{self.cap_s:.0f} s (a wait that never ends?)"
                )
            # Fire events in order, each at its own time, so callbacks see the right now().
            while (nxt := self._events.next_time()) is not None and nxt <= target:
                self._now = max(self._now, nxt)
                self.run_due()
            self._now = target
            self.run_due()
            return self._now

    def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))


class ScaledClock(_ScheduledClock):
    """Wall time times `speed`, plus whatever `advance` added. `speed=1` is a wall clock.

    Starts at wall-clock now so server-mode timestamps are never behind a client's own clock
    (clients compare checkpoint `createTime` with their `datetime.now()`).
    """

    kind = "scaled"

    def __init__(self, speed: float = 1.0, start: float | None = None) -> None:
        if speed < 1.0:
            raise ValueError("speed must be >= 1: virtual time may never run slower than wall time")
        self.speed = float(speed)
        self.start = _time.time() if start is None else float(start)
        self._wall0 = _time.monotonic()
        self._offset = 0.0
        self._events = _EventHeap()
        self.lock = self._events.lock

    def now(self) -> float:
        return self.start + (_time.monotonic() - self._wall0) * self.speed + self._offset

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ClockWentBackwards(f"cannot advance by {seconds} s")
        with self.lock:
            self._offset += seconds
            self.run_due()
        return self.now()

    def sleep(self, seconds: float) -> None:
        _time.sleep(max(0.0, seconds) / self.speed)
        self.run_due()


class WallClock(ScaledClock):
    """Real time."""

    kind = "wall"

    def __init__(self, start: float | None = None) -> None:
        super().__init__(speed=1.0, start=start)
