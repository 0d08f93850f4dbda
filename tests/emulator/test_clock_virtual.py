"""Clocks: (time, seq) ordering, no going backwards, the cap, events at their own time."""

from __future__ import annotations

import pytest

from drydock.emulator import DEFAULT_EPOCH, ScaledClock, VirtualClock
from drydock.emulator.errors import ClockCapExceeded, ClockError, ClockWentBackwards


def test_events_fire_in_time_then_schedule_order_with_ties() -> None:
    clock = VirtualClock()
    fired: list[str] = []
    clock.schedule(10, lambda: fired.append("b10"))
    clock.schedule(5, lambda: fired.append("a5"))
    clock.schedule(10, lambda: fired.append("c10"))  # tie with b10: scheduled later, fires later
    clock.schedule(0, lambda: fired.append("now"))
    clock.advance(9.99)
    assert fired == ["now", "a5"]
    clock.advance(0.01)
    assert fired == ["now", "a5", "b10", "c10"]
    assert clock.pending() == 0


def test_each_event_sees_its_own_time() -> None:
    clock = VirtualClock()
    seen: list[float] = []
    for delay in (30, 1, 7):
        clock.schedule(delay, lambda: seen.append(clock.elapsed()))
    clock.advance(100)
    assert seen == [1, 7, 30]
    assert clock.elapsed() == 100 and clock.now() == DEFAULT_EPOCH + 100


def test_event_scheduled_by_a_callback_fires_within_the_same_advance() -> None:
    clock = VirtualClock()
    seen: list[tuple[str, float]] = []

    def first() -> None:
        seen.append(("first", clock.elapsed()))
        clock.schedule(5, lambda: seen.append(("chained", clock.elapsed())))

    clock.schedule(10, first)
    clock.advance(20)
    assert seen == [("first", 10), ("chained", 15)]


def test_cancelled_events_never_fire_and_do_not_count() -> None:
    clock = VirtualClock()
    fired: list[int] = []
    ev = clock.schedule(1, lambda: fired.append(1))
    clock.schedule(2, lambda: fired.append(2))
    ev.cancel()
    assert clock.pending() == 1
    clock.advance(5)
    assert fired == [2]


def test_never_moves_backwards() -> None:
    clock = VirtualClock()
    clock.advance(10)
    with pytest.raises(ClockWentBackwards):
        clock.advance(-1)
    with pytest.raises(ClockWentBackwards):
        clock.advance_to(clock.now() - 0.5)
    assert clock.elapsed() == 10
    assert issubclass(ClockWentBackwards, ClockError)


def test_advance_past_cap_raises_typed_error_and_leaves_time_alone() -> None:
    clock = VirtualClock(cap_s=3600)
    fired: list[int] = []
    clock.schedule(10, lambda: fired.append(1))
    clock.advance(3600)  # exactly the cap is allowed
    with pytest.raises(ClockCapExceeded, match="cap"):
        clock.advance(1)
    assert clock.elapsed() == 3600 and fired == [1]


def test_sleep_advances_virtual_time() -> None:
    clock = VirtualClock(start=1000.0)
    clock.sleep(2.5)
    assert clock.now() == 1002.5


def test_scaled_clock_advance_adds_an_offset_and_fires_due_events() -> None:
    clock = ScaledClock(speed=1.0, start=0.0)
    fired: list[float] = []
    clock.schedule(3600, lambda: fired.append(clock.elapsed()))
    before = clock.elapsed()
    clock.advance(3600)
    after = clock.elapsed()
    # The offset is added on top of (tiny) real elapsed time; the hour-away event is now due.
    assert 3600 <= after - before < 3600 + 5
    assert len(fired) == 1 and fired[0] >= 3600
    with pytest.raises(ClockWentBackwards):
        clock.advance(-1)


def test_scaled_clock_rejects_slower_than_wall_time() -> None:
    with pytest.raises(ValueError):
        ScaledClock(speed=0.5)
