"""Futures and the long-poll, with an injected monotonic clock (no real waiting)."""

from __future__ import annotations

import asyncio
import threading

from drydock.emulator.dialects.fireworks.tinker import FutureRecord, long_poll


class FakeClock:
    """A monotonic clock that moves only when told (or by `step` on each read)."""

    def __init__(self, start: float = 100.0, step: float = 0.0) -> None:
        self.now, self.step, self.reads = start, step, 0

    def __call__(self) -> float:
        self.reads += 1
        t = self.now
        self.now += self.step
        return t


def _poll(rec, timeout_s, clock, check_gaps=lambda: None):
    asyncio.run(long_poll(rec, timeout_s, lock=threading.RLock(), monotonic=clock,
                          check_gaps=check_gaps))


def test_a_finished_future_returns_at_once_with_its_body():
    rec = FutureRecord("req-1-1", "model-1-1", "forward")
    rec.finish({"metrics": {}})
    clock = FakeClock()
    _poll(rec, 10.0, clock)
    assert rec.done and rec.body == {"metrics": {}}


def test_finish_is_once_only_and_fail_has_the_wire_error_shape():
    rec = FutureRecord("req-1-1", None, "optim_step")
    rec.fail("boom", "user")
    rec.finish({"metrics": {}})  # ignored: already done
    assert rec.body == {"error": "boom", "category": "user"} and not rec.dead
    gone = FutureRecord("req-1-2", None, "forward")
    gone.finish(None, dead=True)
    assert gone.done and gone.dead and gone.body is None


def test_the_deadline_is_read_from_the_injected_clock():
    """The clock jumps past the deadline between two reads: the poll gives up without waiting
    (a poll that read time.monotonic would wait 10 real seconds, reading this clock once)."""
    rec = FutureRecord("req-1-1", None, "forward")
    clock = FakeClock(step=60.0)
    _poll(rec, 10.0, clock)
    assert not rec.done and clock.reads >= 2


def test_a_waiter_wakes_when_the_future_finishes_from_another_thread():
    rec = FutureRecord("req-1-1", None, "forward")
    clock = FakeClock()  # frozen: only the finish can end the poll

    async def main():
        poll = asyncio.ensure_future(long_poll(rec, 3600.0, lock=threading.RLock(),
                                               monotonic=clock))
        await asyncio.sleep(0)  # the poll registers its waiter
        threading.Thread(target=rec.finish, args=({"ok": 1},)).start()
        await asyncio.wait_for(poll, 30)

    asyncio.run(main())
    assert rec.body == {"ok": 1}


def test_a_gap_check_that_fails_the_future_ends_the_poll():
    rec = FutureRecord("req-1-2", None, "optim_step")
    calls = []

    def check_gaps():
        calls.append(1)
        rec.fail("seq_id 1 never arrived", "server")
        return None

    _poll(rec, 3600.0, FakeClock(), check_gaps)
    assert calls == [1] and rec.body["category"] == "server"
