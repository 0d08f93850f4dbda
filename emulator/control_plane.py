"""ControlPlane: tenants, jobs and their state machine, capacity, restart policies, checkpoints,
models, faults.

Service-agnostic: dialects translate their wire format to these calls and back, validate what
their service validates, and name resources the way their service does (`resource_namers`).
Every change happens under one lock, at a time read from the injected clock, and is written to
the event log.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._artifacts import Artifacts
from ._fault_arming import FaultHost
from .clock import Clock, ScheduledEvent
from .errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from .events import EventLog
from .faults import CheckpointWriteFailure, FaultBase, FaultPlan
from .records import (
    NO_RESTART,
    Account,
    CheckpointRecord,
    Job,
    JobSpec,
    ModelRecord,
    RestartPolicy,
    Timings,
)
from .rng import SeededRandom
from .runtime import NullRuntime, TrainerRuntime
from .shapes import BaseModelEntry, ShapeCatalog
from .states import HOLDS_CAPACITY, RESUMABLE, JobState, check_transition

__all__ = [
    "Account",
    "JobSpec",
    "Job",
    "CheckpointRecord",
    "ModelRecord",
    "Timings",
    "RestartPolicy",
    "ControlPlane",
]

S = JobState


def _state(job: Job) -> str:
    return job.state.value if job.state else "UNSPECIFIED"


class ControlPlane:
    def __init__(
        self,
        clock: Clock,
        seed: int = 0,
        catalog: ShapeCatalog | None = None,
        runtime: TrainerRuntime | None = None,
        timings: Timings | None = None,
        data_dir: str | Path | None = None,
        *,
        runtimes: dict[str, TrainerRuntime] | None = None,
        public_tenants: set[str] | frozenset[str] = frozenset(),
        resource_namers: dict[str, Callable[[str, str], str]] | None = None,
    ) -> None:
        self.clock = clock
        self.seed = seed
        self.rng = SeededRandom(seed)
        self.catalog = catalog or ShapeCatalog.empty()
        self.timings = timings or Timings()
        self.events = EventLog()
        # One lock for the plane and its clock's event heap: clock callbacks take the plane's lock,
        # and plane calls fire clock events, so two locks could be taken in opposite orders by a
        # request thread and an advancing thread (a deadlock).
        self.lock = getattr(clock, "lock", None) or threading.RLock()
        self.runtime: TrainerRuntime = runtime or NullRuntime()
        # A dialect may run its jobs on a runtime of its own (keyed by the dialect's name).
        self.runtimes: dict[str, TrainerRuntime] = dict(runtimes or {})
        self.public_tenants = frozenset(public_tenants)
        self.resource_namers = dict(resource_namers or {})
        self.data_dir = Path(data_dir) if data_dir else None
        self.accounts: dict[str, Account] = {}
        self._keys: dict[str, str] = {}
        self.jobs: dict[tuple[str, str], Job] = {}
        self._queue: list[tuple[str, str]] = []  # PENDING jobs, FIFO
        self.artifacts = Artifacts(self.catalog, self.now, self.log)
        self.faults: list[FaultBase] = []
        # Nodes one job may ask for when each is a local process (server mode); None: no cap.
        self.max_nodes: int | None = None
        self.fault_host = FaultHost(self)
        for rt in self._all_runtimes():
            rt.attach(self)  # type: ignore[arg-type]  # runtimes adapt it: as_trainer_host

    def _all_runtimes(self) -> list[TrainerRuntime]:
        seen: list[TrainerRuntime] = [self.runtime]
        for rt in self.runtimes.values():
            if all(rt is not r for r in seen):
                seen.append(rt)
        return seen

    def runtime_of(self, job: Job) -> TrainerRuntime:
        return self.runtimes.get(job.dialect, self.runtime)

    # ------------------------------------------------------------------ basics
    def now(self) -> float:
        return self.clock.now()

    def log(self, kind: str, account: str = "", job: str = "", **detail: Any) -> None:
        self.events.append(self.clock.elapsed(), kind, account, job, **detail)

    def tick(self) -> None:
        """Fire events that have come due (wall and scaled clocks fire lazily, here)."""
        self.clock.run_due()

    def _schedule(self, delay: float, fn: Callable[[], Any], label: str) -> ScheduledEvent:
        def run() -> None:
            with self.lock:
                fn()

        return self.clock.schedule(delay, run, label)

    def job_name(self, account: str, job_id: str, dialect: str = "") -> str:
        """A job's name in messages, as its dialect spells it."""
        namer = self.resource_namers.get(dialect)
        return namer(account, job_id) if namer else f"{account}/{job_id}"

    # ------------------------------------------------------------------ tenants
    def add_account(self, account_id: str, api_key: str, display_name: str = "") -> Account:
        with self.lock:
            acct = self.accounts.setdefault(account_id, Account(account_id, set(), display_name))
            acct.api_keys.add(api_key)
            self._keys[api_key] = account_id
            return acct

    def authenticate(self, api_key: str | None) -> Account:
        # Constant time in the key: compare against every key, never a dict lookup (a timing
        # side channel could tell how much of a guess is right).
        given = (api_key or "").encode()
        found = None
        for key, account in self._keys.items():
            if hmac.compare_digest(given, key.encode()):
                found = account
        if not given or found is None:
            raise Unauthenticated("invalid or missing API key")
        return self.accounts[found]

    def authorize(self, caller: Account, account_id: str, *, public_read: bool = False) -> None:
        if caller.id == account_id or (public_read and account_id in self.public_tenants):
            return
        raise PermissionDenied(
            f"the API key's account {caller.id!r} may not access account {account_id!r}"
        )

    # ------------------------------------------------------------------ models
    @property
    def checkpoints(self) -> dict[tuple[str, str], dict[str, CheckpointRecord]]:
        return self.artifacts.checkpoints

    @property
    def models(self) -> dict[str, ModelRecord]:
        """Promoted models by full name."""
        return self.artifacts.models

    def resolve_base_model(
        self, name: str, account: str | None = None
    ) -> tuple[BaseModelEntry, ModelRecord | None]:
        """A catalog base model, or a promoted model (returned with its catalog base). With
        `account`, another account's promoted models do not exist for the caller."""
        return self.artifacts.resolve_base_model(name, account)

    # ------------------------------------------------------------------ faults
    def inject(self, plan: FaultPlan | list[FaultBase]) -> None:
        faults = plan.faults if isinstance(plan, FaultPlan) else list(plan)
        with self.lock:
            for f in faults:
                self.faults.append(f)
                self.log("fault.injected", job=f.target(), fault=f.kind)
                f.arm(self.fault_host)

    def _hold(self, job: Job, state: JobState, default: float) -> float:
        for f in self.faults:
            held = f.hold_for(self.fault_host, job, state)
            if held is not None:
                return held
        return default

    def http_fault(self, method: str, route: str, path: str) -> Any:
        """The HTTP fault (if any) that this request triggers; counts it as used."""
        with self.lock:
            for f in self.faults:
                if f.on_request(self.fault_host, method, route, path):
                    return f
            return None

    def _healthz_down(self, job: Job) -> bool:
        return any(f.healthz_down(self.fault_host, job) for f in self.faults)

    # ------------------------------------------------------------------ jobs
    def create_job(
        self,
        account: str,
        job_id: str | None,
        spec: JobSpec,
        payload: dict[str, Any] | None = None,
        *,
        dialect: str = "",
        restart: RestartPolicy | None = None,
        render: Callable[[Job], Any] | None = None,
    ) -> Job:
        """Create a job and ask for its capacity. The dialect has validated `job_id` and the
        request; the core checks only what it needs (the model, the shape, the pool).
        `render` (the dialect's wire form) runs on the new record before it is stored: a job
        that cannot be answered is never kept (no 500 that leaves the write behind)."""
        with self.lock:
            self.tick()
            if job_id is None:
                job_id = "job-" + self.rng.hex_id("ids", 12)
            if (account, job_id) in self.jobs:
                raise AlreadyExists(f"job {self.job_name(account, job_id, dialect)} already exists")
            job = Job(
                account=account,
                id=job_id,
                spec=spec,
                dialect=dialect,
                payload=dict(payload or {}),
                restart=restart or NO_RESTART,
            )
            self._place(job)
            job.create_time = job.update_time = job.last_activity = self.now()
            if render is not None:
                render(job)
            self.jobs[job.key] = job
            self.log(
                "job.created",
                account,
                job_id,
                base_model=spec.base_model,
                accelerators=job.accelerators,
                accelerator_type=job.accelerator_type,
            )
            self._request_capacity(job, "created")
            return job

    def _place(self, job: Job) -> None:
        """Validate the spec and work out what the job needs (shape, pool, accelerators)."""
        spec = job.spec
        # The dialect has checked the request in its service's words; these are the core's own
        # invariants (a dialect that forgot one still cannot store a job that breaks them).
        if spec.lora_rank < 0 or not spec.learning_rate > 0 or (spec.max_context_length or 1) <= 0:
            raise InvalidArgument(
                "lora_rank, learning_rate and max_context_length must be positive"
            )
        job.model, _ = self.resolve_base_model(spec.base_model, job.account)
        if spec.training_shape:
            shape, version = self.catalog.shape(spec.training_shape)
            if version is None:
                version = shape.latest_validated()
                if version is None:
                    raise FailedPrecondition(
                        f"training shape {shape.name} has no validated version"
                    )
            if not spec.skip_validations and shape.base_model != job.model.name:
                raise InvalidArgument(
                    f"training shape {shape.name} is for base model {shape.base_model}, "
                    f"not {spec.base_model}"
                )
            if (spec.max_context_length or 0) > version.max_supported_context_length:
                raise InvalidArgument(
                    f"max_context_length {spec.max_context_length} exceeds the shape's "
                    f"{version.max_supported_context_length}"
                )
            job.shape_version = version
            job.shape_version_name = f"{shape.name}/versions/{version.version}"
            job.accelerator_type = version.accelerator_type
            per_node, job.node_count = version.accelerator_count, version.node_count
        else:
            job.accelerator_type = spec.accelerator_type or "NVIDIA_H100_80GB"
            per_node, job.node_count = spec.accelerator_count or 1, spec.node_count or 1
            if per_node < 1 or job.node_count < 1:
                raise InvalidArgument("accelerator_count and node_count must be >= 1")
        if self.max_nodes is not None and job.node_count > self.max_nodes:
            raise InvalidArgument(
                f"the job asks for {job.node_count} nodes but this machine runs at most "
                f"{self.max_nodes} local trainer processes (one per node)"
            )
        job.region = spec.region or self.catalog.default_region
        job.accelerators = per_node * job.node_count
        pool = self.catalog.pool(job.region, job.accelerator_type)
        if pool is None:
            raise InvalidArgument(
                f"accelerator type {job.accelerator_type} is not offered in region {job.region}"
            )
        # A job larger than its whole pool would queue forever; an empty pool (0) is allowed,
        # as a way to hold every job in PENDING.
        if 0 < pool.accelerators < job.accelerators:
            raise InvalidArgument(
                f"the job needs {job.accelerators} {job.accelerator_type} accelerators but region "
                f"{job.region} has {pool.accelerators} in all"
            )

    def get_job(self, account: str, job_id: str, dialect: str | None = None) -> Job:
        """The job; with `dialect`, only if that dialect created it (a job of another service
        does not exist for this one)."""
        with self.lock:
            self.tick()
            job = self.jobs.get((account, job_id))
            if job is None or (dialect is not None and job.dialect != dialect):
                raise NotFound(f"job {self.job_name(account, job_id, dialect or '')} not found")
            return job

    def list_jobs(self, account: str, dialect: str | None = None) -> list[Job]:
        with self.lock:
            self.tick()
            return [
                j
                for (a, _), j in self.jobs.items()
                if a == account and (dialect is None or j.dialect == dialect)
            ]

    def delete_job(self, account: str, job_id: str) -> Job:
        with self.lock:
            job = self.get_job(account, job_id)
            if job.state == S.DELETED:
                raise NotFound(f"job {self.job_name(account, job_id, job.dialect)} was deleted")
            if job.state != S.DELETING:
                self._transition(job, S.DELETING, "deleted by client")
            elif not job.preempting:
                return job  # already being deleted: keep its timer
            job.preempting = False

            # (A preemption passing through DELETING would end FAILED: the client's delete wins.)
            def deleted() -> None:
                self._transition(job, S.DELETED, "deletion finished")
                self._after(job, self.timings.deleted_retention_s, lambda: self._drop(job))

            self._after(job, self._hold(job, S.DELETING, self.timings.delete_s), deleted)
            return job

    def _drop(self, job: Job) -> None:
        """A DELETED job's retention is over: it and its checkpoint rows leave every list (no
        event: the log records what a client could see happen, and this is bookkeeping)."""
        if job.state == S.DELETED and self.jobs.get(job.key) is job:
            del self.jobs[job.key]
            self.checkpoints.pop(job.key, None)
            job.next_event = None

    def resume_job(self, account: str, job_id: str) -> Job:
        with self.lock:
            job = self.get_job(account, job_id)
            if job.state in (S.PENDING, S.CREATING, S.RUNNING, S.IDLE):
                return job  # idempotent: the SDK retries :resume on 5xx
            if job.state not in RESUMABLE:
                raise FailedPrecondition(f"job {job_id} is {_state(job)} and cannot be resumed")
            job.resumes += 1
            job.status_code, job.status_message = "OK", ""
            self.log("job.resume", account, job_id, resumes=job.resumes)
            self._request_capacity(job, "resumed")
            return job

    def cancel_job(self, account: str, job_id: str, reason: str = "cancelled") -> Job:
        with self.lock:
            job = self.get_job(account, job_id)
            if job.state not in (S.PENDING, S.CREATING, S.RUNNING, S.IDLE):
                raise FailedPrecondition(f"job {job_id} is {_state(job)}; nothing to cancel")
            job.status_code, job.status_message = "CANCELLED", reason
            self._transition(job, S.CANCELLING, reason)
            self._after(
                job,
                self._hold(job, S.CANCELLING, self.timings.cancel_s),
                lambda: self._transition(job, S.CANCELLED, reason),
            )
            return job

    def preempt_job(
        self,
        account: str,
        job_id: str,
        reason: str = "preempted",
        via: str | None = None,
        hold_s: float = 0.0,
        code: str = "UNAVAILABLE",
    ) -> bool:
        """Kill the job's pod. False (and a `fault.skipped` event) when it is not RUNNING."""
        with self.lock:
            job = self.get_job(account, job_id)
            if job.state not in (S.RUNNING, S.IDLE):
                self.log(
                    "fault.skipped",
                    account,
                    job_id,
                    reason=reason,
                    state=job.state.value if job.state else None,
                )
                return False
            job.preemptions += 1
            job.status_code, job.status_message = code, reason
            cause = "node_failure" if code == "INTERNAL" else "preemption"
            if via:
                self._transition(job, S(via), reason)
                job.preempting = True  # cleared by the next transition
                self._after(job, hold_s, lambda: self._fail(job, reason, cause=cause))
            else:
                self._fail(job, reason, cause=cause)
            return True

    def crash_trainer(
        self, account: str, job_id: str, exit_code: int = 1, reason: str | None = None
    ) -> bool:
        """The trainer process died on its own: FAILED with the exit reason."""
        with self.lock:
            job = self.get_job(account, job_id)
            if job.state not in (S.RUNNING, S.IDLE):
                return False
            job.status_code = "INTERNAL"
            job.status_message = reason or f"trainer exited with code {exit_code}"
            self._fail(job, job.status_message, graceful=False, cause="crash")
            return True

    def fail_job(
        self,
        account: str,
        job_id: str,
        reason: str,
        *,
        code: str = "FAILED_PRECONDITION",
        cause: str = "error",
    ) -> bool:
        """A dialect's own failure (a deadline passed, capacity it cannot get, a bad start):
        PENDING/CREATING/RUNNING/IDLE -> FAILED with `reason`; the restart policy applies when
        it covers `cause` ("error" by default: it does not unless asked). False otherwise."""
        with self.lock:
            job = self.get_job(account, job_id)
            if job.state not in (S.PENDING, S.CREATING, S.RUNNING, S.IDLE):
                return False
            job.status_code, job.status_message = code, reason
            self._fail(job, reason, cause=cause)
            return True

    def forget_job(self, account: str, job_id: str) -> bool:
        """Drop a DELETED job now (its name may be used again), as its retention period ending
        would. False when there is no such tombstone."""
        with self.lock:
            job = self.jobs.get((account, job_id))
            if job is None or job.state != S.DELETED:
                return False
            self._drop(job)
            return True

    def complete_job(self, account: str, job_id: str, reason: str = "training finished") -> bool:
        """The trainer finished its work: RUNNING/IDLE -> COMPLETED. False when not running."""
        with self.lock:
            job = self.get_job(account, job_id)
            if job.state not in (S.RUNNING, S.IDLE):
                return False
            job.status_code, job.status_message = "OK", reason
            self._transition(job, S.COMPLETED, reason)
            return True

    # ------------------------------------------------------------------ restart policies
    def _fail(self, job: Job, reason: str, graceful: bool = True, cause: str = "error") -> None:
        """The job failed (preemption, node loss, crash, or a dialect's `fail_job`): FAILED,
        then whatever its restart policy says about this `cause`."""
        self._transition(job, S.FAILED, reason, graceful=graceful)
        policy = job.restart
        if policy.mode == "none" or cause not in policy.on:
            return
        if job.restarts >= policy.max_restarts:
            self.log(
                "job.restart_exhausted",
                job.account,
                job.id,
                restarts=job.restarts,
                max_restarts=policy.max_restarts,
            )
            return
        job.restarts += 1
        job.restore_from = (
            self.artifacts.newest_location(job.account, job.id) if policy.mode == "resume" else None
        )
        self.log(
            "job.restart",
            job.account,
            job.id,
            mode=policy.mode,
            restarts=job.restarts,
            restore_from=job.restore_from,
        )

        def restart() -> None:
            if job.state == S.FAILED:  # a client may have deleted or resumed it meanwhile
                job.status_code, job.status_message = "OK", ""
                self._request_capacity(job, f"restarted by policy ({policy.mode})")

        self._after(job, policy.backoff_s, restart)

    # ------------------------------------------------------------------ transitions
    def _transition(self, job: Job, dst: JobState, reason: str, graceful: bool = True) -> None:
        check_transition(job.state, dst)
        src = job.state
        job.preempting = False
        if job.next_event is not None:
            job.next_event.cancel()
            job.next_event = None
        job.state = dst
        job.update_time = self.now()
        self.log(
            "job.state",
            job.account,
            job.id,
            src=src.value if src else None,
            dst=dst.value,
            reason=reason,
        )
        if src == S.RUNNING and dst != S.RUNNING:
            if job.idle_event is not None:
                job.idle_event.cancel()
            self.runtime_of(job).stop(job, reason, graceful=graceful)
        dequeued = job.key in self._queue and dst != S.PENDING
        if dequeued:
            self._queue.remove(job.key)
        # Freed capacity, or a queue head that left (it may have blocked smaller jobs behind it).
        if (src in HOLDS_CAPACITY and dst not in HOLDS_CAPACITY) or dequeued:
            self._drain_queue()
        if dst == S.RUNNING:
            job.last_activity = self.now()
            self.runtime_of(job).start(job)
            self.fault_host.arm_idle(job)
            for f in self.faults:
                f.on_running(self.fault_host, job)

    def _after(self, job: Job, delay: float, fn: Callable[[], Any]) -> None:
        if job.next_event is not None:  # one pending transition per job
            job.next_event.cancel()
        job.next_event = self._schedule(delay, fn, f"{job.id}:{job.state}")

    # ------------------------------------------------------------------ capacity
    def capacity(self, region: str, accelerator_type: str) -> int:
        override = self.fault_host.capacity_override(region, accelerator_type)
        if override is not None:
            return override
        pool = self.catalog.pool(region, accelerator_type)
        return pool.accelerators if pool else 0

    def used(self, region: str, accelerator_type: str) -> int:
        return sum(
            j.accelerators
            for j in self.jobs.values()
            if j.state in HOLDS_CAPACITY
            and j.region == region
            and j.accelerator_type == accelerator_type
        )

    def _fits(self, job: Job) -> bool:
        free = self.capacity(job.region, job.accelerator_type) - self.used(
            job.region, job.accelerator_type
        )
        return job.accelerators <= free

    def _request_capacity(self, job: Job, reason: str) -> None:
        ahead = any(
            self.jobs[k].region == job.region
            and self.jobs[k].accelerator_type == job.accelerator_type
            for k in self._queue
            if k != job.key
        )
        hold = self._hold(job, S.PENDING, 0.0)
        if not ahead and hold == 0.0 and self._fits(job):
            self._start_provisioning(job, reason)
            return
        self._transition(job, S.PENDING, f"{reason}; waiting for capacity")
        self._queue.append(job.key)
        if hold:
            job.pending_until = self.now() + hold
            self._after(job, hold, self._drain_queue)

    def _start_provisioning(self, job: Job, reason: str) -> None:
        self._transition(job, S.CREATING, reason)
        self._after(
            job,
            self._hold(
                job,
                S.CREATING,
                self.timings.provision_s if job.spec.provision_s is None else job.spec.provision_s,
            ),
            lambda: self._transition(job, S.RUNNING, "trainer started"),
        )

    def _drain_queue(self) -> None:
        """Start queued jobs in order; a pool's queue is strictly FIFO (no overtaking)."""
        blocked: set[tuple[str, str]] = set()
        for key in list(self._queue):
            job = self.jobs[key]
            pool = (job.region, job.accelerator_type)
            if pool in blocked:
                continue
            if (job.pending_until or 0) > self.now() or not self._fits(job):
                blocked.add(pool)
                continue
            job.pending_until = None
            self._queue.remove(key)
            self._start_provisioning(job, "capacity available")

    # ------------------------------------------------------------------ trainer hooks
    def trainer_healthy(self, account: str, job_id: str) -> bool:
        with self.lock:
            job = self.get_job(account, job_id)
            if job.state != S.RUNNING:
                return False
        # A booting worker may make this wait: never while holding the lock.
        ready = self.runtime_of(job).is_ready(job)
        with self.lock:
            if job.state != S.RUNNING or not ready:
                return False
            if self._healthz_down(job):
                self.log("fault.healthz_down", account, job_id)
                return False
            return True

    def touch(self, account: str, job_id: str) -> None:
        """Trainer traffic: resets the idle timer."""
        with self.lock:
            job = self.jobs.get((account, job_id))
            if job is not None and job.state == S.RUNNING:
                job.last_activity = self.now()
                self.fault_host.arm_idle(job)

    def on_step(self, account: str, job_id: str, step: int) -> None:
        """The trainer finished optimizer step `step`: fire faults waiting for it."""
        with self.lock:
            job = self.get_job(account, job_id)
            job.steps = step
            for f in self.faults:
                f.on_step(self.fault_host, job, step)

    def checkpoint_write_fails(self, account: str, job_id: str) -> CheckpointWriteFailure | None:
        """Called by the trainer before each checkpoint write; a match means: fail this one."""
        with self.lock:
            job = self.get_job(account, job_id)
            job.saves += 1
            for f in self.faults:
                if f.on_checkpoint_write(self.fault_host, job):
                    assert isinstance(f, CheckpointWriteFailure)
                    return f
            return None

    # ------------------------------------------------------------------ checkpoints
    def record_checkpoint(
        self,
        account: str,
        job_id: str,
        name: str,
        kind: str,
        promotable: bool,
        location: str | None = None,
        step: int | None = None,
    ) -> CheckpointRecord:
        """Add or re-save a checkpoint row; a re-save moves createTime/updateTime to now."""
        with self.lock:
            self.get_job(account, job_id)
            return self.artifacts.record(account, job_id, name, kind, promotable, location, step)

    def list_checkpoints(self, account: str, job_id: str) -> list[CheckpointRecord]:
        with self.lock:
            self.get_job(account, job_id)
            return self.artifacts.of_job(account, job_id)

    def find_checkpoint(
        self, account: str, checkpoint_id: str, job_id: str | None = None
    ) -> CheckpointRecord:
        with self.lock:
            return self.artifacts.find(account, checkpoint_id, job_id)

    def promote_checkpoint(
        self,
        account: str,
        checkpoint_id: str,
        output_model_id: str,
        base_model: str,
        job_id: str | None = None,
        *,
        model_name: str | None = None,
        lora_rank: int | None = None,
    ) -> ModelRecord:
        """Turn a promotable checkpoint into a model new jobs can use as their base.
        `model_name` is the model's full name as the dialect spells it (the catalog key);
        `lora_rank` the checkpoint's LoRA rank where the dialect knows it better than the job's
        spec does (a job whose models differ in rank); by default the spec's."""
        with self.lock:
            if job_id is not None:
                self.get_job(account, job_id)

            def lora_rank_of(job: str) -> int:
                if lora_rank is not None:
                    return lora_rank
                src = self.jobs.get((account, job))
                return src.spec.lora_rank if src else 0

            return self.artifacts.promote(
                account,
                checkpoint_id,
                output_model_id,
                model_name or f"{account}/{output_model_id}",
                base_model,
                job_id,
                lora_rank_of,
            )

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        for rt in self._all_runtimes():
            rt.close()
