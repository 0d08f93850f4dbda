"""Fixtures for the emulator's own tests: one emulator (virtual clock) and one in-process client
per test; a bare control plane for core-level tests."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from _emu_helpers import ACCOUNT

from drydock.emulator import ControlPlane, Emulator, Timings, VirtualClock, default_catalog


@pytest.fixture
def emu() -> Iterator[Emulator]:
    e = Emulator(seed=0)
    yield e
    e.close()


@pytest.fixture
def client(emu: Emulator) -> Iterator[httpx.Client]:
    c = emu.client()
    yield c
    c.close()


@pytest.fixture
def cp() -> ControlPlane:
    """A bare control plane: provisioning 30 s, cancel and delete 5 s, virtual clock."""
    plane = ControlPlane(VirtualClock(), seed=0, timings=Timings(), catalog=default_catalog())
    plane.add_account(ACCOUNT, "key")
    return plane
