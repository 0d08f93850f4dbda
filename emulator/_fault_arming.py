"""`FaultHost`: the one interface through which a fault kind acts on the control plane.

Fault classes (faults.py) implement hooks; the plane calls them with this host. Everything a
fault may do (schedule on the clock, log, find jobs, preempt, crash, cancel, starve a pool,
watch a job for idleness, count its own uses) is a method here, so no fault reaches into the
plane's attributes.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING

from .records import Job
from .states import JobState

if TYPE_CHECKING:
    from .control_plane import ControlPlane
    from .faults import CapacityStarvation, FaultBase

__all__ = ["FaultHost"]

S = JobState


class FaultHost:
    def __init__(self, plane: ControlPlane) -> None:
        self._plane = plane
        self._uses: dict[tuple[int, object], int] = {}
        self._counts: dict[int, int] = {}
        self._capacity_override: dict[tuple[str, str], int] = {}
        self._starvations: dict[tuple[str, str], list[CapacityStarvation]] = {}

    # ------------------------------------------------------------------ time and log
    def elapsed(self) -> float:
        return self._plane.clock.elapsed()

    def rng(self, purpose: str) -> random.Random:
        return self._plane.rng.stream(purpose)

    def log(self, kind: str, account: str = "", job: str = "", **detail: object) -> None:
        self._plane.log(kind, account, job, **detail)

    def schedule_in(self, delay: float, fn: Callable[[], None], label: str) -> None:
        self._plane._schedule(delay, fn, label)

    def schedule_at(self, t: float, fn: Callable[[], None], label: str) -> None:
        self._plane._schedule(t - self.elapsed(), fn, label)

    # ------------------------------------------------------------------ jobs
    @staticmethod
    def matches(pattern: str, job: Job) -> bool:
        return pattern == "*" or pattern == job.id

    def jobs_matching(self, pattern: str) -> list[Job]:
        return [j for j in self._plane.jobs.values() if self.matches(pattern, j)]

    def use(self, fault: FaultBase, job: Job | None, limit: int) -> bool:
        """Count a use of `fault` (per job, or overall when job is None); False once `limit`
        uses are spent (limit 0 = unlimited)."""
        key = (id(fault), job.key if job is not None else None)
        used = self._uses.get(key, 0)
        if limit and used >= limit:
            return False
        self._uses[key] = used + 1
        return True

    def count(self, fault: FaultBase) -> int:
        """How often `fault` matched before; counts this match."""
        seen = self._counts.get(id(fault), 0)
        self._counts[id(fault)] = seen + 1
        return seen

    # ------------------------------------------------------------------ effects
    def preempt(
        self,
        job: Job,
        reason: str,
        via: str | None = None,
        hold_s: float = 0.0,
        code: str = "UNAVAILABLE",
    ) -> None:
        self._plane.preempt_job(job.account, job.id, reason, via, hold_s, code=code)

    def crash(self, job: Job, exit_code: int) -> None:
        self._plane.crash_trainer(job.account, job.id, exit_code)

    def cancel(self, job: Job, reason: str) -> None:
        self._plane.cancel_job(job.account, job.id, reason)

    def arm_idle(self, job: Job) -> None:
        """(Re)start the idle watch of `job` per the first idle fault that covers it."""
        for f in self._plane.faults:
            if f.on_activity(self, job):
                return

    def watch_idle(self, job: Job, after: float) -> None:
        if job.idle_event is not None:
            job.idle_event.cancel()
        job.idle_event = self._plane._schedule(after, lambda: self._idle_check(job, after), "idle")

    def _idle_check(self, job: Job, after: float) -> None:
        plane = self._plane
        if job.state == S.RUNNING and plane.now() - job.last_activity >= after - 1e-9:
            self.log("fault.idle_stop", job.account, job.id, idle_s=after)
            job.status_code, job.status_message = "OK", f"stopped after {after:.0f} s of inactivity"
            plane._transition(job, S.PAUSED, job.status_message)

    def starve(self, f: CapacityStarvation, on: bool) -> None:
        for pool in self._plane.catalog.pools:
            if f.region in ("*", pool.region) and f.accelerator_type in (
                "*",
                pool.accelerator_type,
            ):
                key = (pool.region, pool.accelerator_type)
                # Overlapping starvations: the tightest active one rules; each end removes its own.
                active = self._starvations.setdefault(key, [])
                if on:
                    active.append(f)
                elif f in active:
                    active.remove(f)
                if active:
                    self._capacity_override[key] = min(a.accelerators for a in active)
                else:
                    self._capacity_override.pop(key, None)
        self.log(
            "fault.capacity",
            starving=on,
            accelerators=f.accelerators,
            accelerator_type=f.accelerator_type,
            region=f.region,
        )
        if not on:
            self._plane._drain_queue()

    def capacity_override(self, region: str, accelerator_type: str) -> int | None:
        return self._capacity_override.get((region, accelerator_type))
