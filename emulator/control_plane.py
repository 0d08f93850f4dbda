"""ControlPlane: accounts, jobs and their state machine, capacity, checkpoints, models, faults.

Service-agnostic: dialects translate their wire format to these calls and back. Every change
happens under one lock, at a time read from the injected clock, and is written to the event log.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

from .clock import Clock, ScheduledEvent
from .errors import (AlreadyExists, FailedPrecondition, InvalidArgument, NotFound,
                     PermissionDenied, Unauthenticated)
from .events import EventLog
from .faults import CapacityStarvation, CheckpointWriteFailure, Fault
from .rng import SeededRandom
from .runtime import NullRuntime, TrainerRuntime
from ._fault_arming import FaultArming
from .shapes import BaseModelEntry, ShapeCatalog, default_catalog
from .records import Account, CheckpointRecord, Job, JobSpec, ModelRecord, Timings
from .states import HOLDS_CAPACITY, RESUMABLE, JobState, check_transition
from drydock.wire.fireworks import (JOB_ID_RE, MODEL_ID_RE, base_model_error, infra_count_error,
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


class ControlPlane(FaultArming):
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
        # Messages come from drydock.wire.fireworks, which drydock.sdk also checks client-side.
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

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        self.runtime.close()
