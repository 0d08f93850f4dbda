"""A hypothesis state machine that drives the ControlPlane with random create / resume / delete /
cancel / preempt / crash / complete / clock / capacity steps and compares it with a small
independent model of the lifecycle, FIFO capacity queue and timers.

Invariants after every step: each job's state is legal and equals the model's; no job is lost;
capacity is never over-committed; the PENDING queue is FIFO; the log never goes back in time;
and replaying the `job.state` events of the log reproduces every job's current state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from drydock.emulator import (
    CapacityStarvation,
    ControlPlane,
    FaultPlan,
    JobSpec,
    JobState,
    Timings,
    VirtualClock,
    default_catalog,
)
from drydock.emulator.errors import FailedPrecondition, NotFound, ServiceError
from drydock.emulator.states import HOLDS_CAPACITY, RESUMABLE, TRANSITIONS

S = JobState
A = "acct"
REGION, ACC = "US_VIRGINIA_1", "NVIDIA_H100_80GB"
POOL = 64
PROVISION, CANCEL, DELETE = 30.0, 5.0, 5.0
LIVE = (S.PENDING, S.CREATING, S.RUNNING, S.IDLE)
MAX_JOBS = 10
CATALOG = default_catalog()  # read-only; built once (pydantic construction is not free)

# A modest profile: the whole machine runs in a few seconds; no example database on disk.
PROFILE = settings(max_examples=150, stateful_step_count=16, deadline=None, database=None,
                   suppress_health_check=[HealthCheck.too_slow])


@dataclass
class MJob:
    id: str
    acc: int
    state: S | None = None
    timer: int | None = None     # seq of this job's pending timer
    preempting: bool = False     # in a preemption's transitional state


class Model:
    """The lifecycle as the spec describes it, written independently of control_plane.py."""

    def __init__(self) -> None:
        self.now = 0.0
        self.seq = 0
        self.jobs: dict[str, MJob] = {}
        self.queue: list[str] = []
        self.timers: dict[int, tuple[float, Callable[[], None]]] = {}
        self.starving: list[tuple[int, int]] = []  # (id, accelerators) of active starvations

    # -- time
    def schedule(self, delay: float, fn: Callable[[], None]) -> int:
        self.seq += 1
        self.timers[self.seq] = (self.now + delay, fn)
        return self.seq

    def after(self, job: MJob, delay: float, fn: Callable[[], None]) -> None:
        self.timers.pop(job.timer, None)
        job.timer = self.schedule(delay, fn)

    def advance_to(self, target: float) -> None:
        while self.timers:
            seq = min(self.timers, key=lambda k: (self.timers[k][0], k))
            when, fn = self.timers[seq]
            if when > target:
                break
            del self.timers[seq]
            self.now = max(self.now, when)
            fn()
        self.now = target

    # -- capacity
    def capacity(self) -> int:
        return min(a for _, a in self.starving) if self.starving else POOL

    def used(self) -> int:
        return sum(j.acc for j in self.jobs.values() if j.state in HOLDS_CAPACITY)

    def fits(self, job: MJob) -> bool:
        return job.acc <= self.capacity() - self.used()

    # -- transitions
    def transition(self, job: MJob, dst: S) -> None:
        assert dst in TRANSITIONS[job.state], (job.state, dst)
        src = job.state
        self.timers.pop(job.timer, None)
        job.timer, job.preempting, job.state = None, False, dst
        dequeued = job.id in self.queue and dst != S.PENDING
        if dequeued:
            self.queue.remove(job.id)
        if (src in HOLDS_CAPACITY and dst not in HOLDS_CAPACITY) or dequeued:
            self.drain()

    def start(self, job: MJob) -> None:
        self.transition(job, S.CREATING)
        self.after(job, PROVISION, lambda: self.transition(job, S.RUNNING))

    def request(self, job: MJob) -> None:
        if not self.queue and self.fits(job):
            self.start(job)
        else:
            self.transition(job, S.PENDING)
            self.queue.append(job.id)

    def drain(self) -> None:
        for jid in list(self.queue):
            job = self.jobs[jid]
            if not self.fits(job):
                break  # strict FIFO: nobody overtakes the head
            self.queue.remove(jid)
            self.start(job)

    # -- operations: return the error class the service must raise, or None
    def create(self, jid: str, acc: int) -> None:
        job = self.jobs[jid] = MJob(jid, acc)
        self.request(job)

    def resume(self, job: MJob) -> type[ServiceError] | None:
        if job.state in LIVE:
            return None
        if job.state not in RESUMABLE:
            return FailedPrecondition
        self.request(job)
        return None

    def delete(self, job: MJob) -> type[ServiceError] | None:
        if job.state == S.DELETED:
            return NotFound
        if job.state != S.DELETING:
            self.transition(job, S.DELETING)
        elif not job.preempting:
            return None
        job.preempting = False
        self.after(job, DELETE, lambda: self.transition(job, S.DELETED))
        return None

    def cancel(self, job: MJob) -> type[ServiceError] | None:
        if job.state not in LIVE:
            return FailedPrecondition
        self.transition(job, S.CANCELLING)
        self.after(job, CANCEL, lambda: self.transition(job, S.CANCELLED))
        return None

    def kill(self, job: MJob, via: S | None = None, hold: float = 0.0) -> bool:
        if job.state not in (S.RUNNING, S.IDLE):
            return False
        if via is None:
            self.transition(job, S.FAILED)
        else:
            self.transition(job, via)
            job.preempting = True
            self.after(job, hold, lambda: self.transition(job, S.FAILED))
        return True

    def complete(self, job: MJob) -> bool:
        if job.state not in (S.RUNNING, S.IDLE):
            return False
        self.transition(job, S.COMPLETED)
        return True

    def starve(self, sid: int, accelerators: int, duration: float) -> None:
        def on() -> None:
            self.starving.append((sid, accelerators))

        def off() -> None:
            self.starving.remove((sid, accelerators))
            self.drain()

        self.schedule(0.0, on)
        self.schedule(duration, off)


def expect(model_error: type[ServiceError] | None, call: Callable[[], object]) -> None:
    try:
        call()
    except ServiceError as exc:
        assert model_error is not None and isinstance(exc, model_error), (model_error, exc)
    else:
        assert model_error is None, f"expected {model_error.__name__}"


class JobMachine(RuleBasedStateMachine):
    jobs = Bundle("jobs")

    @initialize()
    def setup(self) -> None:
        self.cp = ControlPlane(VirtualClock(), seed=0, catalog=CATALOG,
                               timings=Timings(provision_s=PROVISION, cancel_s=CANCEL,
                                               delete_s=DELETE))
        self.model = Model()
        self.n = 0
        self.starvations = 0
        self.log_pos = 0
        self.last_t = 0.0
        self.replayed: dict[str, str] = {}
        self.entered_pending: dict[str, int] = {}

    def job(self, jid: str) -> MJob:
        return self.model.jobs[jid]

    def settle(self) -> None:
        """Fire what is due now on both sides (every core call ticks the clock first)."""
        self.cp.tick()
        self.model.advance_to(self.model.now)

    # ------------------------------------------------------------------ rules
    @precondition(lambda self: len(self.model.jobs) < MAX_JOBS)
    @rule(target=jobs, acc=st.sampled_from([1, 8, 16, 32, 64]))
    def create(self, acc: int) -> str:
        self.settle()
        jid = f"j{self.n}"
        self.n += 1
        self.cp.create_job(A, jid, JobSpec(base_model="accounts/fireworks/models/qwen3-0p6b",
                                           accelerator_type=ACC, accelerator_count=acc))
        self.model.create(jid, acc)
        self.settle()
        return jid

    @rule(jid=jobs)
    def resume(self, jid: str) -> None:
        self.settle()
        expect(self.model.resume(self.job(jid)), lambda: self.cp.resume_job(A, jid))
        self.settle()

    @rule(jid=jobs)
    def delete(self, jid: str) -> None:
        self.settle()
        expect(self.model.delete(self.job(jid)), lambda: self.cp.delete_job(A, jid))
        self.settle()

    @rule(jid=jobs)
    def cancel(self, jid: str) -> None:
        self.settle()
        expect(self.model.cancel(self.job(jid)), lambda: self.cp.cancel_job(A, jid))
        self.settle()

    @rule(jid=jobs, how=st.sampled_from([(None, 0.0), (S.CREATING, 0.0), (S.CREATING, 10.0),
                                         (S.PENDING, 10.0), (S.DELETING, 0.0), (S.DELETING, 10.0)]))
    def preempt(self, jid: str, how: tuple[S | None, float]) -> None:
        """Kill the pod, directly to FAILED or through a transitional state held `hold` s."""
        via, hold = how
        self.settle()
        expected = self.model.kill(self.job(jid), via, hold)
        got = self.cp.preempt_job(A, jid, via=via.value if via else None, hold_s=hold)
        assert got == expected
        self.settle()

    @rule(jid=jobs)
    def crash(self, jid: str) -> None:
        self.settle()
        expected = self.model.kill(self.job(jid))
        assert self.cp.crash_trainer(A, jid, exit_code=137) == expected
        if expected:
            assert self.cp.get_job(A, jid).status_code == "INTERNAL"
        self.settle()

    @rule(jid=jobs)
    def complete(self, jid: str) -> None:
        self.settle()
        assert self.cp.complete_job(A, jid) == self.model.complete(self.job(jid))
        self.settle()

    @rule(dt=st.sampled_from([1.0, 5.0, 10.0, 30.0, 60.0]))
    def advance(self, dt: float) -> None:
        self.settle()
        self.cp.clock.advance(dt)
        self.model.advance_to(self.model.now + dt)

    @rule(how=st.sampled_from([(a, d) for a in (0, 8, 32) for d in (10.0, 60.0, 300.0)]))
    def starve(self, how: tuple[int, float]) -> None:
        """Capacity change: the pool offers `accelerators` for `duration` s from now."""
        accelerators, duration = how
        self.settle()
        self.starvations += 1
        self.cp.inject(FaultPlan.of(CapacityStarvation(
            at_s=self.cp.clock.elapsed(), duration_s=duration, accelerators=accelerators,
            accelerator_type=ACC, region=REGION)))
        self.model.starve(self.starvations, accelerators, duration)
        self.settle()

    # ------------------------------------------------------------------ invariants
    @invariant()
    def consistent(self) -> None:
        """All checks in one invariant: hypothesis' per-invariant bookkeeping is not free."""
        self.clocks_agree()
        self.states_match_the_model_and_no_job_is_lost()
        self.capacity_never_overcommitted()
        self.pending_queue_is_fifo()
        self.event_log_replays_to_current_states()

    def clocks_agree(self) -> None:
        assert self.cp.clock.elapsed() == self.model.now

    def states_match_the_model_and_no_job_is_lost(self) -> None:
        assert {k[1] for k in self.cp.jobs} == set(self.model.jobs)
        for jid, mj in self.model.jobs.items():
            job = self.cp.get_job(A, jid)  # readable, tombstones included
            assert job.state == mj.state, (jid, job.state, mj.state)

    def capacity_never_overcommitted(self) -> None:
        used = self.cp.used(REGION, ACC)
        assert used == self.model.used() <= POOL
        assert self.cp.capacity(REGION, ACC) == self.model.capacity()

    def replay(self) -> None:
        """Fold the log's new `job.state` events into per-job states (incrementally: fast)."""
        new = self.cp.events.since(self.log_pos)
        for e in new:
            assert e.t >= self.last_t, "the log went back in time"
            self.last_t = e.t
            if e.kind != "job.state":
                continue
            src, dst = e.detail["src"], e.detail["dst"]
            assert self.replayed.get(e.job) == src, (e.job, self.replayed.get(e.job), src)
            assert S(dst) in TRANSITIONS[S(src) if src else None], (src, dst)
            self.replayed[e.job] = dst
            if dst == "PENDING":
                self.entered_pending[e.job] = e.seq
        self.log_pos += len(new)

    def pending_queue_is_fifo(self) -> None:
        self.replay()
        queue = [jid for (_, jid) in self.cp._queue]
        assert queue == self.model.queue
        queued_pending = [jid for jid, j in self.model.jobs.items()
                          if j.state == S.PENDING and not j.preempting]
        assert sorted(queue) == sorted(queued_pending)
        # FIFO: the queue is in the order the jobs (last) entered PENDING.
        seqs = [self.entered_pending[j] for j in queue]
        assert seqs == sorted(seqs)

    def event_log_replays_to_current_states(self) -> None:
        self.replay()
        assert self.replayed == {jid: j.state.value for (_, jid), j in self.cp.jobs.items()}


JobMachine.TestCase.settings = PROFILE
TestJobStateMachine = JobMachine.TestCase
