"""drydock.testing.virtual_time: the calling thread's sleeps advance the emulator clock and its
clock reads follow it; everything else keeps real time."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import pytest
from freezegun import api as fg

from drydock.emulator import DEFAULT_EPOCH, Emulator, VirtualClock
from drydock.testing import VirtualTimeError, remote_virtual_time, virtual_time

REAL_TIME = [fg.real_time]  # in a list: freezegun rewrites module-level copies of time.time


def real_now() -> float:
    return REAL_TIME[0]()


@pytest.fixture
def emu():
    with Emulator(seed=1) as e:
        yield e


def test_sleep_advances_the_emulator_clock_and_reads_follow_it(emu):
    wall0 = real_now()
    with virtual_time(emu) as vt:
        assert time.time() == pytest.approx(DEFAULT_EPOCH)
        m0 = time.monotonic()
        time.sleep(3600)
        assert emu.clock.elapsed() == pytest.approx(3600)
        assert time.time() == pytest.approx(DEFAULT_EPOCH + 3600)
        assert time.monotonic() - m0 == pytest.approx(3600)
        assert datetime.now(timezone.utc).timestamp() == pytest.approx(DEFAULT_EPOCH + 3600)
        assert vt.slept == 3600 and vt.sleeps == 1
    assert real_now() - wall0 < 60  # an hour of sleeping took no real hour


def test_reads_are_dynamic_and_follow_emulator_advance_and_reset(emu):
    with virtual_time(emu) as vt:
        emu.advance(90)  # moved by someone else (a test, a control route)
        assert time.time() == pytest.approx(DEFAULT_EPOCH + 90)
        assert vt.elapsed() == pytest.approx(90)
        emu.reset()  # a fresh clock: reads follow emulator.clock, not the old object
        assert time.time() == pytest.approx(DEFAULT_EPOCH)
        time.sleep(5)
        assert emu.clock.elapsed() == pytest.approx(5)


def test_patches_are_removed_on_exit(emu):
    real_sleep = time.sleep
    with virtual_time(emu):
        assert time.sleep is not real_sleep
    assert time.sleep is real_sleep
    assert abs(time.time() - real_now()) < 5
    assert datetime.now(timezone.utc).year >= 2024 and abs(
        datetime.now(timezone.utc).timestamp() - real_now()) < 5


def test_other_threads_keep_real_time_and_real_sleeps(emu):
    seen: dict[str, float] = {}

    def worker() -> None:
        before = emu.clock.elapsed()
        time.sleep(0.001)
        seen["advanced"] = emu.clock.elapsed() - before
        seen["time_gap"] = abs(time.time() - real_now())
        seen["dt_gap"] = abs(datetime.now(timezone.utc).timestamp() - real_now())

    with virtual_time(emu):
        time.sleep(7200)
        t = threading.Thread(target=worker)
        t.start()
        t.join()
        assert time.time() == pytest.approx(DEFAULT_EPOCH + 7200)
    assert seen["advanced"] == 0
    assert seen["time_gap"] < 5 and seen["dt_gap"] < 5


def test_two_threads_warp_two_emulators_independently():
    a, b = Emulator(seed=1), Emulator(seed=2)
    barrier = threading.Barrier(2)
    out: dict[str, float] = {}

    def run(emu: Emulator, name: str, seconds: float) -> None:
        with virtual_time(emu):
            barrier.wait()  # both warps active at once
            time.sleep(seconds)
            out[name] = time.time() - DEFAULT_EPOCH
            barrier.wait()

    threads = [threading.Thread(target=run, args=(a, "a", 10)),
               threading.Thread(target=run, args=(b, "b", 250))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == {"a": pytest.approx(10), "b": pytest.approx(250)}
    assert a.clock.elapsed() == pytest.approx(10) and b.clock.elapsed() == pytest.approx(250)
    a.close(), b.close()


def test_ignored_modules_read_real_time(emu):
    ns = {"__name__": "mylib.timers", "time": time}
    exec("def read():\n    return time.time()\n", ns)
    with virtual_time(emu, ignore=["mylib"]):
        assert abs(ns["read"]() - real_now()) < 5
        assert time.time() == pytest.approx(DEFAULT_EPOCH)


def test_sleep_bound_by_name_before_the_warp_is_patched(emu):
    import sys
    import types

    mod = types.ModuleType("user_module_for_vt")
    exec("from time import sleep\ndef nap(s):\n    sleep(s)\n", mod.__dict__)
    sys.modules[mod.__name__] = mod
    try:
        with virtual_time(emu):
            mod.nap(0.25)  # small: a failed patch costs a quarter second, not a hang
        assert emu.clock.elapsed() == pytest.approx(0.25)
        assert mod.sleep is time.sleep  # restored to the real function
    finally:
        del sys.modules[mod.__name__]


def test_bad_input_is_a_typed_error(emu):
    with pytest.raises(VirtualTimeError, match="needs an Emulator"):
        virtual_time(object())
    with virtual_time(emu):
        with pytest.raises(ValueError, match="non-negative"):
            time.sleep(-1)


def test_a_runaway_wait_hits_the_clock_cap_as_a_typed_error():
    clock = VirtualClock(cap_s=100)
    with virtual_time(clock):
        time.sleep(60)
        with pytest.raises(VirtualTimeError, match="ClockCapExceeded"):
            time.sleep(60)
    assert clock.elapsed() == pytest.approx(60)


def test_server_thread_and_bare_clock_targets(emu):
    with emu.serve() as server:  # started outside the warp; its own sleeps stay real
        with virtual_time(server):
            time.sleep(11)
    assert emu.clock.elapsed() == pytest.approx(11)
    with virtual_time(emu):  # a server started inside the warp still starts (real waits)
        with emu.serve() as server:
            assert server.port > 0


def test_remote_virtual_time_advances_the_server_clock():
    with Emulator(admin_token="s3cret") as emu, emu.serve() as server:
        with remote_virtual_time(server.url, admin_token="s3cret") as vt:
            assert time.time() == pytest.approx(DEFAULT_EPOCH)
            time.sleep(300)
            assert emu.clock.elapsed() == pytest.approx(300)
            assert time.time() == pytest.approx(DEFAULT_EPOCH + 300)
            emu.advance(10)  # moved behind the client's back: seen after refresh()
            vt.refresh()
            assert time.time() == pytest.approx(DEFAULT_EPOCH + 310)
        with pytest.raises(VirtualTimeError, match="HTTP 403"):
            remote_virtual_time(server.url, admin_token="wrong")
        with pytest.raises(VirtualTimeError, match="HTTP 401"):
            remote_virtual_time(server.url)


def test_remote_virtual_time_on_a_wall_clock_server_reads_and_skips_ahead():
    from drydock.emulator import WallClock

    with Emulator(clock=WallClock()) as emu, emu.serve() as server:
        with remote_virtual_time(server.url):
            assert abs(time.time() - emu.clock.now()) < 5  # re-read, not frozen
            time.sleep(3600)  # a wall clock skips ahead: its offset grows
            assert abs(time.time() - emu.clock.now()) < 5
            assert time.time() - real_now() == pytest.approx(3600, abs=5)
