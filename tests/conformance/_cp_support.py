"""Shared pieces of the control-plane conformance tests: an emulator served on loopback and the
real fireworks-ai TrainerJobManager pointed at it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from freezegun import api as _fg

from drydock.emulator import Emulator, JobState, ServerThread

TrainerJobManager: Any
TrainerJobConfig: Any
try:
    from fireworks.training.sdk.trainer import TrainerJobConfig, TrainerJobManager
except ImportError:  # pragma: no cover - the conformance extra is missing
    TrainerJobManager = TrainerJobConfig = None

QWEN3_8B = "accounts/fireworks/models/qwen3-8b"
_REAL_PERF = (_fg.real_perf_counter,)  # a tuple: freezegun rewrites module-level copies


def wall() -> float:
    """Real seconds (also inside a virtual-time warp)."""
    return _REAL_PERF[0]()


@dataclass
class Env:
    emu: Emulator
    server: ServerThread
    mgr: Any

    @property
    def account(self) -> str:
        return self.emu.account_id

    def state(self, job_id: str) -> JobState:
        return self.emu.control_plane.get_job(self.account, job_id).state

    def job(self, job_id: str):
        return self.emu.control_plane.get_job(self.account, job_id)

    def gateway(self, job_id: str) -> str:
        return f"{self.server.url}/training/v1/rlorTrainerJobs/{self.account}/{job_id}"


@contextlib.contextmanager
def fireworks_env(**emulator_kwargs: Any) -> Iterator[Env]:
    with Emulator(**emulator_kwargs) as emu, emu.serve() as server:
        mgr = TrainerJobManager(api_key=emu.api_key, base_url=server.url)
        try:
            yield Env(emu, server, mgr)
        finally:
            mgr.close()


def config(**kw: Any):
    kw.setdefault("base_model", QWEN3_8B)
    return TrainerJobConfig(**kw)
