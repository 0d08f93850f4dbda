"""What leaving (and entering) `virtual_time()` costs: no lazy imports on exit, and
`keep_patched()` holds the patches across many warps while each warp keeps its behavior."""

from __future__ import annotations

import sys
import threading
import time
import types

import pytest
from freezegun import api as fg

from drydock.emulator import DEFAULT_EPOCH, Emulator
from drydock.testing import keep_patched, virtual_time

# the module itself (drydock.testing exports a function of the same name)
vt_mod = sys.modules["drydock.testing.virtual_time"]

REAL_TIME = [fg.real_time]


@pytest.fixture
def emu():
    with Emulator(seed=1) as e:
        yield e


def _lazy_module(name: str, loads: list[str]) -> types.ModuleType:
    """A PEP 562 lazy package: every attribute it has not loaded is an "import" we count."""
    mod = types.ModuleType(name)

    def __getattr__(attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        loads.append(attr)
        return object()

    mod.__getattr__ = __getattr__  # type: ignore[attr-defined]
    mod.__dir__ = lambda: ["heavy_a", "heavy_b", "__getattr__"]  # type: ignore[attr-defined]
    return mod


def test_leaving_the_warp_imports_nothing_from_a_lazy_module(emu):
    loads: list[str] = []
    with virtual_time(emu):
        # imported while warped: freezegun's own stop() would dir()+getattr() it
        sys.modules["drydock_test_lazy_pkg"] = _lazy_module("drydock_test_lazy_pkg", loads)
        late = types.ModuleType("drydock_test_late_mod")
        exec("from time import time, sleep\n", late.__dict__)
        sys.modules[late.__name__] = late
        assert late.time() == pytest.approx(DEFAULT_EPOCH)  # bound to the fake
    try:
        assert loads == []
        # a module imported during the warp still gets the real functions back
        assert late.time is fg.real_time and late.sleep is time.sleep
        assert abs(late.time() - REAL_TIME[0]()) < 5
    finally:
        del sys.modules["drydock_test_lazy_pkg"], sys.modules["drydock_test_late_mod"]


def test_keep_patched_holds_the_patches_and_each_warp_still_works():
    real_sleep = time.sleep
    emus = [Emulator(seed=s) for s in (1, 2)]
    try:
        with keep_patched():
            patched_sleep = time.sleep
            assert patched_sleep is not real_sleep
            for i, emu in enumerate(emus):
                with virtual_time(emu) as vt:
                    time.sleep(100 * (i + 1))
                    assert time.time() == pytest.approx(DEFAULT_EPOCH + 100 * (i + 1))
                assert vt.slept == 100 * (i + 1)
                assert time.sleep is patched_sleep  # still installed between warps
                # outside every warp: real time and real sleeps, in this thread and others
                assert abs(time.time() - REAL_TIME[0]()) < 5
                before = emu.clock.elapsed()
                time.sleep(0.001)
                assert emu.clock.elapsed() == before
            seen: list[float] = []
            t = threading.Thread(target=lambda: seen.append(time.time()))
            t.start(), t.join()
            assert abs(seen[0] - REAL_TIME[0]()) < 5
        assert time.sleep is real_sleep and vt_mod._active == 0
    finally:
        for emu in emus:
            emu.close()


def test_a_warp_inside_keep_patched_uses_its_own_ignore_list(emu):
    ns = {"__name__": "mylib2.timers", "time": time}
    exec("def read():\n    return time.time()\n", ns)
    with keep_patched():
        with virtual_time(emu, ignore=["mylib2"]):
            assert abs(ns["read"]() - REAL_TIME[0]()) < 5
            assert time.time() == pytest.approx(DEFAULT_EPOCH)
        with virtual_time(emu):
            assert ns["read"]() == pytest.approx(DEFAULT_EPOCH)


def test_warps_inside_keep_patched_do_not_walk_modules(emu, monkeypatch):
    with keep_patched():
        calls: list[str] = []
        monkeypatch.setattr(vt_mod, "_start_patches", lambda ignore: calls.append("start"))
        monkeypatch.setattr(vt_mod, "_stop_patches", lambda: calls.append("stop"))
        for _ in range(3):
            with virtual_time(emu):
                time.sleep(1)
        assert calls == []
        monkeypatch.undo()
    assert emu.clock.elapsed() == pytest.approx(3)
