"""ControlPlane: accounts, jobs and their state machine, capacity, checkpoints, models, faults.

Service-agnostic: dialects translate their wire format to these calls and back. Every change
happens under one lock, at a time read from the injected clock, and is written to the event log.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from pydantic import BaseModel, ConfigDict, Field

from .clock import Clock, ScheduledEvent
from .errors import (AlreadyExists, FailedPrecondition, InvalidArgument, NotFound,
                     PermissionDenied, Unauthenticated)
from .events import EventLog
from .faults import (CapacityStarvation, CheckpointWriteFailure, ExternalCancel, Fault, FaultPlan,
                     HealthzFlap, HoldState, HttpFault, IdleAutoStop, NodeFailure, Preempt,
                     TrainerCrash)
from .rng import SeededRandom
from .runtime import NullRuntime, TrainerRuntime
from .shapes import BaseModelEntry, ShapeCatalog, TrainingShapeVersion, default_catalog
from .states import HOLDS_CAPACITY, RESUMABLE, JobState, check_transition
from .validation import (JOB_ID_RE, MODEL_ID_RE, base_model_error, infra_count_error,
                         job_id_error, learning_rate_error, lora_rank_error,
                         max_context_length_error, output_model_id_error)

__all__ = [
    "Account",
    "JobSpec",
    "Job",
    "CheckpointRecord",
    "ModelRecord",
    "Timings",
    "ControlPlane",
    "JOB_ID_RE",
    "MODEL_ID_RE",
]

S = JobState
PUBLIC_ACCOUNT = "fireworks"


class Timings(BaseModel):
    """How long transitional states last, in virtual seconds (HoldState faults override)."""

    model_config = ConfigDict(extra="forbid")
    provision_s: float = Field(30.0, ge=0)  # CREATING -> RUNNING
    cancel_s: float = Field(5.0, ge=0)      # CANCELLING -> CANCELLED
    delete_s: float = Field(5.0, ge=0)      # DELETING -> DELETED


@dataclass
class Account:
    id: str
    api_keys: set[str]
    display_name: str = ""


@dataclass
class JobSpec:
    base_model: str
    lora_rank: int = 0
    learning_rate: float = 1e-5
    max_context_length: int | None = None
    training_shape: str | None = None  # as requested (versioned or not)
    node_count: int | None = None
    accelerator_type: str | None = None
    accelerator_count: int | None = None
    region: str | None = None
    display_name: str = ""
    forward_only: bool = False
    preemptible: bool = False
    inactivity_timeout_s: float | None = None
    skip_validations: bool = False


@dataclass
class Job:
    account: str
    id: str
    spec: JobSpec
    state: JobState | None = None
    create_time: float = 0.0
    update_time: float = 0.0
    status_code: str = "OK"
    status_message: str = ""
    region: str = ""
    accelerator_type: str = ""
    accelerators: int = 0  # demand: per-node count x nodes
    node_count: int = 1
    shape_version: TrainingShapeVersion | None = None
    shape_version_name: str | None = None
    model: BaseModelEntry | None = None
    annotations: dict[str, Any] = field(default_factory=dict)  # dialect-owned wire echo
    resumes: int = 0
    preemptions: int = 0
    steps: int = 0
    saves: int = 0
    last_activity: float = 0.0
    next_event: ScheduledEvent | None = field(default=None, repr=False)
    idle_event: ScheduledEvent | None = field(default=None, repr=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.account, self.id)

    @property
    def max_context_length(self) -> int:
        if self.spec.max_context_length:
            return self.spec.max_context_length
        if self.shape_version:
            return self.shape_version.max_supported_context_length
        return self.model.context_length if self.model else 32768


@dataclass
class CheckpointRecord:
    account: str
    job: str
    name: str
    kind: str  # TRAINING, TRAINING_LORA, INFERENCE_BASE, INFERENCE_LORA
    promotable: bool
    create_time: float
    update_time: float
    location: str | None = None
    step: int | None = None


@dataclass
class ModelRecord:
    account: str
    id: str
    base_model: str
    kind: str  # HF_BASE_MODEL, CUSTOM_MODEL, HF_PEFT_ADDON
    state: str
    create_time: float
    lora_rank: int = 0
    source_checkpoint: str | None = None
    source_job: str | None = None
    location: str | None = None

    @property
    def name(self) -> str:
        return f"accounts/{self.account}/models/{self.id}"


class ControlPlane:
    def __init__(
        self,
        clock: Clock,
        seed: int = 0,
        catalog: ShapeCatalog | None = None,
        runtime: TrainerRuntime | None = None,
        timings: Timings | None = None,
        data_dir: str | Path | None = None,
    ) -> None:
        self.clock = clock
        self.seed = seed
        self.rng = SeededRandom(seed)
        self.catalog = catalog or default_catalog()
        self.timings = timings or Timings()
        self.events = EventLog()
        # One lock for the plane and its clock's event heap: clock callbacks take the plane's lock,
        # and plane calls fire clock events, so two locks could be taken in opposite orders by a
        # request thread and an advancing thread (a deadlock).
        self.lock = getattr(clock, "lock", None) or threading.RLock()
        self.runtime: TrainerRuntime = runtime or NullRuntime()
        self.data_dir = Path(data_dir) if data_dir else None
        self.accounts: dict[str, Account] = {}
        self._keys: dict[str, str] = {}
        self.jobs: dict[tuple[str, str], Job] = {}
        self._queue: list[tuple[str, str]] = []  # PENDING jobs, FIFO
        self._capacity_override: dict[tuple[str, str], int] = {}
        self._starvations: dict[tuple[str, str], list[CapacityStarvation]] = {}
        self.checkpoints: dict[tuple[str, str], dict[str, CheckpointRecord]] = {}
        self.models: dict[tuple[str, str], ModelRecord] = {}
        self.faults: list[Fault] = []
        self._fault_uses: dict[int, int] = {}  # id(fault) -> times used
        self._running_triggers: dict[tuple[str, str], int] = {}
        self.runtime.attach(self)

    # ------------------------------------------------------------------ basics
    def now(self) -> float:
        return self.clock.now()

    def log(self, kind: str, account: str = "", job: str = "", **detail: Any) -> None:
        self.events.append(self.clock.elapsed(), kind, account, job, **detail)

    def tick(self) -> None:
        """Fire events that have come due (wall and scaled clocks fire lazily, here)."""
        self.clock.run_due()

    def _schedule(self, delay: float, fn, label: str) -> ScheduledEvent:
        def run() -> None:
            with self.lock:
                fn()
        return self.clock.schedule(delay, run, label)

    # ------------------------------------------------------------------ accounts
    def add_account(self, account_id: str, api_key: str, display_name: str = "") -> Account:
        with self.lock:
            acct = self.accounts.setdefault(account_id, Account(account_id, set(), display_name))
            acct.api_keys.add(api_key)
            self._keys[api_key] = account_id
            return acct

    def authenticate(self, api_key: str | None) -> Account:
        if not api_key or api_key not in self._keys:
            raise Unauthenticated("invalid or missing API key")
        return self.accounts[self._keys[api_key]]

    def authorize(self, caller: Account, account_id: str, *, public_read: bool = False) -> None:
        if caller.id == account_id or (public_read and account_id == PUBLIC_ACCOUNT):
            return
        raise PermissionDenied(
            f"the API key's account {caller.id!r} may not access account {account_id!r}")

    # ------------------------------------------------------------------ models
    def resolve_base_model(self, name: str, account: str | None = None
                           ) -> tuple[BaseModelEntry, ModelRecord | None]:
        """A catalog base model, or a promoted model (returned with its catalog base). With
        `account`, another account's promoted models do not exist for the caller."""
        try:
            return self.catalog.model(name), None
        except NotFound:
            pass
        m = re.match(r"^accounts/([^/]+)/models/([^/]+)$", name)
        rec = self.models.get((m.group(1), m.group(2))) if m else None
        if rec is None or (account is not None and rec.account != account):
            raise NotFound(f"model {name!r} not found")
        return self.catalog.model(rec.base_model), rec

    # ------------------------------------------------------------------ jobs
    def create_job(self, account: str, job_id: str | None, spec: JobSpec,
                   annotations: dict[str, Any] | None = None) -> Job:
        with self.lock:
            self.tick()
            if job_id is None:
                job_id = "job-" + self.rng.hex_id("ids", 12)
            if (problem := job_id_error(job_id)):
                raise InvalidArgument(problem)
            if (account, job_id) in self.jobs:
                raise AlreadyExists(f"job accounts/{account}/rlorTrainerJobs/{job_id} already exists")
            job = Job(account, job_id, spec, annotations=dict(annotations or {}))
            self._place(job)
            job.create_time = job.update_time = job.last_activity = self.now()
            self.jobs[job.key] = job
            self.log("job.created", account, job_id, base_model=spec.base_model,
                     accelerators=job.accelerators, accelerator_type=job.accelerator_type)
            self._request_capacity(job, "created")
            return job

    def _place(self, job: Job) -> None:
        """Validate the spec and work out what the job needs (shape, pool, accelerators)."""
        spec = job.spec
        # Messages come from .validation, which drydock.sdk also checks client-side.
        for problem in (lora_rank_error(spec.lora_rank), learning_rate_error(spec.learning_rate),
                        max_context_length_error(spec.max_context_length),
                        base_model_error(spec.base_model)):
            if problem:
                raise InvalidArgument(problem)
        job.model, _ = self.resolve_base_model(spec.base_model, job.account)
        if spec.training_shape:
            shape, version = self.catalog.shape(spec.training_shape)
            if version is None:
                version = shape.latest_validated()
                if version is None:
                    raise FailedPrecondition(f"training shape {shape.name} has no validated version")
            if not spec.skip_validations and shape.base_model != job.model.name:
                raise InvalidArgument(
                    f"training shape {shape.name} is for base model {shape.base_model}, "
                    f"not {spec.base_model}")
            if (spec.max_context_length or 0) > version.max_supported_context_length:
                raise InvalidArgument(
                    f"max_context_length {spec.max_context_length} exceeds the shape's "
                    f"{version.max_supported_context_length}")
            job.shape_version = version
            job.shape_version_name = f"{shape.name}/versions/{version.version}"
            job.accelerator_type = version.accelerator_type
            per_node, job.node_count = version.accelerator_count, version.node_count
        else:
            job.accelerator_type = spec.accelerator_type or "NVIDIA_H100_80GB"
            per_node, job.node_count = spec.accelerator_count or 1, spec.node_count or 1
            if (problem := infra_count_error(per_node, job.node_count)):
                raise InvalidArgument(problem)
        job.region = spec.region or self.catalog.default_region
        job.accelerators = per_node * job.node_count
        pool = self.catalog.pool(job.region, job.accelerator_type)
        if pool is None:
            raise InvalidArgument(
                f"accelerator type {job.accelerator_type} is not offered in region {job.region}")
        # A job larger than its whole pool would queue forever; an empty pool (0) is allowed,
        # as a way to hold every job in PENDING.
        if 0 < pool.accelerators < job.accelerators:
            raise InvalidArgument(
                f"the job needs {job.accelerators} {job.accelerator_type} accelerators but region "
                f"{job.region} has {pool.accelerators} in all")

    def get_job(self, account: str, job_id: str) -> Job:
        with self.lock:
            self.tick()
            job = self.jobs.get((account, job_id))
            if job is None:
                if (problem := job_id_error(job_id)):  # a malformed name is 400, not 404
                    raise InvalidArgument(problem)
                raise NotFound(f"job accounts/{account}/rlorTrainerJobs/{job_id} not found")
            return job

    def list_jobs(self, account: str) -> list[Job]:
        with self.lock:
            self.tick()
            return [j for (a, _), j in self.jobs.items() if a == account]

    def delete_job(self, account: str, job_id: str) -> Job:
        with self.lock:
            job = self.get_job(account, job_id)
            if job.state == S.DELETED:
                raise NotFound(f"job accounts/{account}/rlorTrainerJobs/{job_id} was deleted")
            if job.state != S.DELETING:
                self._transition(job, S.DELETING, "deleted by client")
            elif not job.annotations.pop("_preempting", False):
                return job  # already being deleted: keep its timer
            # (A preemption passing through DELETING would end FAILED: the client's delete wins.)
            self._after(job, self._hold(job, S.DELETING, self.timings.delete_s),
                        lambda: self._transition(job, S.DELETED, "deletion finished"))
            return job

    def resume_job(self, account: str, job_id: str) -> Job:
        with self.lock:
            job = self.get_job(account, job_id)
            if job.state in (S.PENDING, S.CREATING, S.RUNNING, S.IDLE):
                return job  # idempotent: the SDK retries :resume on 5xx
            if job.state not in RESUMABLE:
                raise FailedPrecondition(
                    f"job {job_id} is {job.state.value} and cannot be resumed")
            job.resumes += 1
            job.status_code, job.status_message = "OK", ""
            self.log("job.resume", account, job_id, resumes=job.resumes)
            self._request_capacity(job, "resumed")
            return job

    def cancel_job(self, account: str, job_id: str, reason: str = "cancelled") -> Job:
        with self.lock:
            job = self.get_job(account, job_id)
            if job.state not in (S.PENDING, S.CREATING, S.RUNNING, S.IDLE):
                raise FailedPrecondition(f"job {job_id} is {job.state.value}; nothing to cancel")
            job.status_code, job.status_message = "CANCELLED", reason
            self._transition(job, S.CANCELLING, reason)
            self._after(job, self._hold(job, S.CANCELLING, self.timings.cancel_s),
                        lambda: self._transition(job, S.CANCELLED, reason))
            return job

    def preempt_job(self, account: str, job_id: str, reason: str = "preempted",
                    via: str | None = None, hold_s: float = 0.0, code: str = "UNAVAILABLE") -> bool:
        """Kill the job's pod. False (and a `fault.skipped` event) when it is not RUNNING."""
        with self.lock:
            job = self.get_job(account, job_id)
            if job.state not in (S.RUNNING, S.IDLE):
                self.log("fault.skipped", account, job_id, reason=reason,
                         state=job.state.value if job.state else None)
                return False
            job.preemptions += 1
            job.status_code, job.status_message = code, reason
            if via:
                self._transition(job, S(via), reason)
                job.annotations["_preempting"] = True  # cleared by the next transition
                self._after(job, hold_s, lambda: self._transition(job, S.FAILED, reason))
            else:
                self._transition(job, S.FAILED, reason)
            return True

    def crash_trainer(self, account: str, job_id: str, exit_code: int = 1,
                      reason: str | None = None) -> bool:
        """The trainer process died on its own: FAILED with the exit reason."""
        with self.lock:
            job = self.get_job(account, job_id)
            if job.state not in (S.RUNNING, S.IDLE):
                return False
            job.status_code = "INTERNAL"
            job.status_message = reason or f"trainer exited with code {exit_code}"
            self._transition(job, S.FAILED, job.status_message, graceful=False)
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

    # ------------------------------------------------------------------ transitions
    def _transition(self, job: Job, dst: JobState, reason: str, graceful: bool = True) -> None:
        check_transition(job.state, dst)
        src = job.state
        job.annotations.pop("_preempting", None)
        if job.next_event is not None:
            job.next_event.cancel()
            job.next_event = None
        job.state = dst
        job.update_time = self.now()
        self.log("job.state", job.account, job.id, src=src.value if src else None, dst=dst.value,
                 reason=reason)
        if src == S.RUNNING and dst != S.RUNNING:
            if job.idle_event is not None:
                job.idle_event.cancel()
            self.runtime.stop(job, reason, graceful=graceful)
        dequeued = job.key in self._queue and dst != S.PENDING
        if dequeued:
            self._queue.remove(job.key)
        # Freed capacity, or a queue head that left (it may have blocked smaller jobs behind it).
        if (src in HOLDS_CAPACITY and dst not in HOLDS_CAPACITY) or dequeued:
            self._drain_queue()
        if dst == S.RUNNING:
            job.last_activity = self.now()
            self.runtime.start(job)
            self._on_running(job)

    def _after(self, job: Job, delay: float, fn) -> None:
        if job.next_event is not None:  # one pending transition per job
            job.next_event.cancel()
        job.next_event = self._schedule(delay, fn, f"{job.id}:{job.state}")

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

    # ------------------------------------------------------------------ capacity
    def capacity(self, region: str, accelerator_type: str) -> int:
        override = self._capacity_override.get((region, accelerator_type))
        if override is not None:
            return override
        pool = self.catalog.pool(region, accelerator_type)
        return pool.accelerators if pool else 0

    def used(self, region: str, accelerator_type: str) -> int:
        return sum(j.accelerators for j in self.jobs.values()
                   if j.state in HOLDS_CAPACITY and j.region == region
                   and j.accelerator_type == accelerator_type)

    def _fits(self, job: Job) -> bool:
        free = self.capacity(job.region, job.accelerator_type) - self.used(job.region, job.accelerator_type)
        return job.accelerators <= free

    def _request_capacity(self, job: Job, reason: str) -> None:
        ahead = any(self.jobs[k].region == job.region
                    and self.jobs[k].accelerator_type == job.accelerator_type
                    for k in self._queue if k != job.key)
        hold = self._hold(job, S.PENDING, 0.0)
        if not ahead and hold == 0.0 and self._fits(job):
            self._start_provisioning(job, reason)
            return
        self._transition(job, S.PENDING, f"{reason}; waiting for capacity")
        self._queue.append(job.key)
        if hold:
            job.annotations["_pending_until"] = self.now() + hold
            self._after(job, hold, self._drain_queue)

    def _start_provisioning(self, job: Job, reason: str) -> None:
        self._transition(job, S.CREATING, reason)
        self._after(job, self._hold(job, S.CREATING, self.timings.provision_s),
                    lambda: self._transition(job, S.RUNNING, "trainer started"))

    def _drain_queue(self) -> None:
        """Start queued jobs in order; a pool's queue is strictly FIFO (no overtaking)."""
        blocked: set[tuple[str, str]] = set()
        for key in list(self._queue):
            job = self.jobs[key]
            pool = (job.region, job.accelerator_type)
            if pool in blocked:
                continue
            if job.annotations.get("_pending_until", 0) > self.now() or not self._fits(job):
                blocked.add(pool)
                continue
            job.annotations.pop("_pending_until", None)
            self._queue.remove(key)
            self._start_provisioning(job, "capacity available")

    # ------------------------------------------------------------------ trainer hooks
    def trainer_healthy(self, account: str, job_id: str) -> bool:
        with self.lock:
            job = self.get_job(account, job_id)
            if job.state != S.RUNNING:
                return False
        # A booting worker may make this wait: never while holding the lock.
        ready = self.runtime.is_ready(job)
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
                self._arm_idle(job)

    def on_step(self, account: str, job_id: str, step: int) -> None:
        """The trainer finished optimizer step `step`: fire faults waiting for it."""
        with self.lock:
            job = self.get_job(account, job_id)
            job.steps = step
            for f in self.faults:
                if getattr(f, "at_step", None) == step and self._matches(f.job, job) \
                        and self._use(f, job):
                    self._fire(f, job)

    def checkpoint_write_fails(self, account: str, job_id: str) -> CheckpointWriteFailure | None:
        """Called by the trainer before each checkpoint write; a match means: fail this one."""
        with self.lock:
            job = self.get_job(account, job_id)
            job.saves += 1
            for f in self.faults:
                if isinstance(f, CheckpointWriteFailure) and f.nth == job.saves \
                        and self._matches(f.job, job):
                    self.log("fault.checkpoint_write_failure", account, job_id, nth=f.nth)
                    return f
            return None

    # ------------------------------------------------------------------ checkpoints
    def record_checkpoint(self, account: str, job_id: str, name: str, kind: str,
                          promotable: bool, location: str | None = None,
                          step: int | None = None) -> CheckpointRecord:
        """Add or re-save a checkpoint row; a re-save moves createTime/updateTime to now."""
        with self.lock:
            self.get_job(account, job_id)
            rows = self.checkpoints.setdefault((account, job_id), {})
            now = self.now()
            rows.pop(name, None)  # re-insert: rows stay ordered by createTime
            rec = CheckpointRecord(account, job_id, name, kind, promotable, now, now, location, step)
            rows[name] = rec
            self.log("checkpoint.saved", account, job_id, name=name, type=kind, step=step)
            return rec

    def list_checkpoints(self, account: str, job_id: str) -> list[CheckpointRecord]:
        with self.lock:
            self.get_job(account, job_id)
            return list(self.checkpoints.get((account, job_id), {}).values())

    def find_checkpoint(self, account: str, checkpoint_id: str,
                        job_id: str | None = None) -> CheckpointRecord:
        with self.lock:
            for (a, j), rows in self.checkpoints.items():
                if a == account and (job_id is None or j == job_id) and checkpoint_id in rows:
                    return rows[checkpoint_id]
            raise NotFound(f"checkpoint accounts/{account}/checkpoints/{checkpoint_id} not found")

    def promote_checkpoint(self, account: str, checkpoint_id: str, output_model_id: str,
                           base_model: str, job_id: str | None = None) -> ModelRecord:
        with self.lock:
            if (problem := output_model_id_error(output_model_id)):
                raise InvalidArgument(problem)
            if job_id is not None:
                self.get_job(account, job_id)
            ckpt = self.find_checkpoint(account, checkpoint_id, job_id)
            if not ckpt.promotable:
                raise FailedPrecondition(
                    f"checkpoint {checkpoint_id} ({ckpt.kind}) is not promotable; promote a "
                    "sampler checkpoint (save_weights_for_sampler)")
            if (account, output_model_id) in self.models:
                raise AlreadyExists(f"model accounts/{account}/models/{output_model_id} already exists")
            base, _ = self.resolve_base_model(base_model, account)
            job = self.jobs.get((account, ckpt.job))
            lora = job.spec.lora_rank if job else 0
            rec = ModelRecord(account, output_model_id, base.name,
                              "HF_PEFT_ADDON" if lora else "CUSTOM_MODEL", "READY", self.now(),
                              lora_rank=lora, source_checkpoint=checkpoint_id, source_job=ckpt.job,
                              location=ckpt.location)
            self.models[(account, output_model_id)] = rec
            self.log("model.promoted", account, ckpt.job, model=rec.name, checkpoint=checkpoint_id)
            return rec

    # ------------------------------------------------------------------ faults
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
        import fnmatch

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

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        self.runtime.close()
