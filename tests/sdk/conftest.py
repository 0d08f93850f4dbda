"""Fixtures for drydock.sdk tests: one emulator per test, and a manager that talks to it either
in process (`for_emulator`) or over HTTP (a real uvicorn server on loopback), both in the
emulator's virtual time — like moto's suite, one test body, two transports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from drydock.emulator import Emulator
from drydock.sdk import EmulatorClock, TrainerJobManager


@pytest.fixture
def emu() -> Iterator[Emulator]:
    e = Emulator(seed=0)
    yield e
    e.close()


@pytest.fixture(params=["inprocess", "server"])
def transport(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make_mgr(emu: Emulator, transport: str):
    """`make_mgr(**kwargs)` -> a TrainerJobManager on `emu` over the parametrized transport."""
    made: list[TrainerJobManager] = []
    servers: list = []

    def make(**kwargs) -> TrainerJobManager:
        if transport == "inprocess":
            mgr = TrainerJobManager.for_emulator(emu, **kwargs)
        else:
            if not servers:
                servers.append(emu.serve())
            key = kwargs.pop("api_key", emu.api_key)
            mgr = TrainerJobManager(key, base_url=servers[0].url, clock=EmulatorClock(emu),
                                    **kwargs)
        made.append(mgr)
        return mgr

    yield make
    for m in made:
        m.close()
    for s in servers:
        s.stop()


@pytest.fixture
def mgr(make_mgr) -> TrainerJobManager:
    return make_mgr()
