"""One lock order: an advancing thread and a request thread that fires due events must never
deadlock (server mode: the test thread advances while the server thread serves polls)."""

from __future__ import annotations

import sys
import threading

from drydock.emulator import Emulator


def test_plane_and_clock_share_one_lock() -> None:
    emu = Emulator()
    assert emu.control_plane.lock is emu.clock.lock


def test_advance_and_tick_from_two_threads_do_not_deadlock() -> None:
    emu = Emulator()
    cp = emu.control_plane
    fired: list[int] = []
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, so a bad lock order shows up fast

    def advancer() -> None:  # Emulator.advance: plane lock, then the clock's events
        for _ in range(3000):
            emu.advance(0.001)

    def requester() -> None:  # what every request does first: fire due events
        for i in range(3000):
            cp._schedule(0, lambda i=i: fired.append(i), "due-now")
            cp.tick()

    threads = [threading.Thread(target=f, daemon=True) for f in (advancer, requester)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    finally:
        sys.setswitchinterval(old)
    assert not any(t.is_alive() for t in threads), "deadlock between clock and control plane"
    assert len(fired) == 3000
