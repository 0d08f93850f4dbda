"""How a FaultPlan acts on the control plane: arming timed faults on the clock, matching jobs,
firing, and the per-request checks (HTTP faults, healthz flaps, transitional-state holds).

A mixin of `ControlPlane`: it uses the plane's lock, clock, jobs, log and transitions.
"""

from __future__ import annotations

import fnmatch
from typing import Iterable

from .faults import (CapacityStarvation, ExternalCancel, Fault, FaultPlan, HealthzFlap, HoldState,
                     HttpFault, IdleAutoStop, NodeFailure, Preempt, TrainerCrash)
from .records import Job
from .states import JobState

__all__ = ["FaultArming"]

S = JobState


class FaultArming:
    def _hold(self, job: Job, state: JobState, default: float) -> float:
        for f in self.faults:
            if isinstance(f, HoldState) and f.state == state.value and self._matches(f.job, job):
                used = self._fault_uses.get(id(f), 0)
                if f.count == 0 or used < f.count:
                    self._fault_uses[id(f)] = used + 1
                    self.log("fault.hold_state", job.account, job.id, state=state.value,
                             seconds=f.seconds)
                    return f.seconds
        return default

    def inject(self, plan: FaultPlan | Iterable[Fault]) -> None:
        faults = plan.faults if isinstance(plan, FaultPlan) else list(plan)
        with self.lock:
            for f in faults:
                self.faults.append(f)
                self.log("fault.injected", job="" if f.__class__ is CapacityStarvation else
                         getattr(f, "job", ""), fault=f.kind)
                self._arm(f)

    def _arm(self, f: Fault) -> None:
        at = getattr(f, "at_s", None)
        if isinstance(f, Preempt) and f.rate_per_hour:
            rng = self.rng.stream("faults")
            # Arrivals start at at_s or now, whichever is later: none land in the past.
            t = max(at or 0.0, self.clock.elapsed())
            while True:
                t += rng.expovariate(f.rate_per_hour / 3600.0)
                if t >= f.until_s:
                    break
                self._schedule(t - self.clock.elapsed(), lambda f=f: self._fire_all(f), "preempt")
        elif isinstance(f, (Preempt, NodeFailure, ExternalCancel, TrainerCrash)) and at is not None:
            self._schedule(at - self.clock.elapsed(), lambda f=f: self._fire_all(f), f.kind)
        elif isinstance(f, CapacityStarvation):
            self._schedule(f.at_s - self.clock.elapsed(), lambda f=f: self._starve(f, True), "cap")
            if f.duration_s:
                self._schedule(f.at_s + f.duration_s - self.clock.elapsed(),
                               lambda f=f: self._starve(f, False), "cap-end")
        elif isinstance(f, IdleAutoStop):
            for job in self.jobs.values():
                if job.state == S.RUNNING:
                    self._arm_idle(job)

    def _matches(self, pattern: str, job: Job) -> bool:
        return pattern == "*" or pattern == job.id

    def _use(self, f: Fault, job: Job) -> bool:
        """Count a use of a fault that has a `count`; False once it is spent for this job."""
        limit = getattr(f, "count", 1) or 1
        key = id(f) * 1000003 + hash(job.key)
        used = self._fault_uses.get(key, 0)
        if used >= limit:
            return False
        self._fault_uses[key] = used + 1
        return True

    def _fire_all(self, f: Fault) -> None:
        targets = [j for j in self.jobs.values() if self._matches(f.job, j)]
        if not targets:
            self.log(f"fault.{f.kind}", job=f.job, fired=False, reason="no such job")
        for job in targets:
            self._fire(f, job)

    def _fire(self, f: Fault, job: Job) -> None:
        live = (S.RUNNING, S.IDLE) if not isinstance(f, ExternalCancel) else \
            (S.PENDING, S.CREATING, S.RUNNING, S.IDLE)
        if isinstance(f, (Preempt, NodeFailure, TrainerCrash, ExternalCancel)) \
                and job.state not in live:
            self.log(f"fault.{f.kind}", job.account, job.id, fired=False,
                     state=job.state.value if job.state else None)
            return
        self.log(f"fault.{f.kind}", job.account, job.id, fired=True)
        if isinstance(f, Preempt):
            self.preempt_job(job.account, job.id, f.reason, f.via, f.hold_s)
        elif isinstance(f, NodeFailure):
            self.preempt_job(job.account, job.id, f"node {f.node} failed", code="INTERNAL")
        elif isinstance(f, TrainerCrash):
            self.crash_trainer(job.account, job.id, f.exit_code)
        elif isinstance(f, ExternalCancel):
            self.cancel_job(job.account, job.id, "cancelled externally")

    def _on_running(self, job: Job) -> None:
        self._arm_idle(job)
        for f in self.faults:
            if getattr(f, "after_running_s", None) is not None and self._matches(f.job, job):
                if self._use(f, job):
                    self._schedule(f.after_running_s, lambda f=f, job=job: self._fire(f, job),
                                   f.kind)

    def _arm_idle(self, job: Job) -> None:
        for f in self.faults:
            if isinstance(f, IdleAutoStop) and self._matches(f.job, job):
                after = f.after_s or job.spec.inactivity_timeout_s
                if not after:
                    continue
                if job.idle_event is not None:
                    job.idle_event.cancel()
                job.idle_event = self._schedule(after, lambda job=job, a=after: self._idle_check(job, a),
                                                "idle")
                return

    def _idle_check(self, job: Job, after: float) -> None:
        if job.state == S.RUNNING and self.now() - job.last_activity >= after - 1e-9:
            self.log("fault.idle_stop", job.account, job.id, idle_s=after)
            job.status_code, job.status_message = "OK", f"stopped after {after:.0f} s of inactivity"
            self._transition(job, S.PAUSED, job.status_message)

    def _starve(self, f: CapacityStarvation, on: bool) -> None:
        for pool in self.catalog.pools:
            if f.region in ("*", pool.region) and f.accelerator_type in ("*", pool.accelerator_type):
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
        self.log("fault.capacity", starving=on, accelerators=f.accelerators,
                 accelerator_type=f.accelerator_type, region=f.region)
        if not on:
            self._drain_queue()

    def _healthz_down(self, job: Job) -> bool:
        t = self.clock.elapsed()
        for f in self.faults:
            if isinstance(f, HealthzFlap) and self._matches(f.job, job) and t >= f.at_s \
                    and (f.until_s is None or t < f.until_s):
                if (t - f.at_s) % f.period_s < f.down_s:
                    return True
        return False

    def http_fault(self, method: str, route: str, path: str) -> HttpFault | None:
        """The HTTP fault (if any) that this request triggers; counts it as used."""
        with self.lock:
            t = self.clock.elapsed()
            for f in self.faults:
                if not isinstance(f, HttpFault):
                    continue
                if f.method not in ("*", method.upper()):
                    continue
                if not (f.route == route or fnmatch.fnmatchcase(path, f.route)):
                    continue
                if t < f.from_s or (f.until_s is not None and t >= f.until_s):
                    continue
                seen = self._fault_uses.get(id(f), 0)
                self._fault_uses[id(f)] = seen + 1
                if seen < f.skip or (f.count and seen >= f.skip + f.count):
                    continue
                self.log("fault.http", route=route, method=method.upper(), status=f.status,
                         reset=f.reset, lose_response=f.lose_response, latency_s=f.latency_s)
                return f
            return None
