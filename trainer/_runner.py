"""A job's workers as the protocol layer sees them: incarnations that run neutral ops.

`JobRunner` (one per job, across restarts) and `Incarnation` (one start of the job's workers)
implement `drydock.emulator.trainer_port.JobRunner` / `TrainerIncarnation`. `run` sends an op to
every node (forward ops get a shard of the datums each), gathers the nodes' answers, reports
progress to the `TrainerHost` (steps, checkpoints, a crash while writing one) and answers the
caller's `done(ok, payload)`. Everything runs under the host's lock; the caller orders the ops.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from drydock.emulator.trainer_port import OpDone, TrainerHost

from ._merge import merge_outputs, shard

__all__ = ["Incarnation", "JobRunner"]

TRAINING_OPS = {"forward_backward", "optim_step"}
_SAVES = ("save_state", "save_for_sampler")


@dataclass
class _Track:
    op: str
    done: OpDone
    nodes: int
    results: dict[int, tuple[bool, Any]] = field(default_factory=dict)
    fault: Any = None


class Incarnation:
    """One start of a job's workers and everything that dies with them."""

    def __init__(self, runner: JobRunner, number: int, workers: list, forward_only: bool) -> None:
        self.runner = runner
        self.number = number
        self.workers = workers
        self.forward_only = forward_only
        self.started = [threading.Event() for _ in workers]
        self.node_ready = [False] * len(workers)
        self.readers: list[threading.Thread] = []  # one per worker; ends when the worker does
        self.start_error: str | None = None
        self.dead = False
        self.tracks: dict[int, _Track] = {}
        self._on_stop: list[Callable[[], None]] = []

    @property
    def ready(self) -> bool:
        return not self.dead and self.start_error is None and all(self.node_ready)

    def wait_started(self, timeout_s: float) -> None:
        for ev in self.started:
            ev.wait(timeout_s)

    def on_stop(self, callback: Callable[[], None]) -> None:
        if self.dead:
            callback()
        else:
            self._on_stop.append(callback)

    def run(self, op: str, model_id: str, args: dict[str, Any], done: OpDone) -> None:
        self.runner.run(self, op, model_id, args, done)

    def kill(self) -> None:
        self.dead = True
        self.tracks.clear()
        callbacks, self._on_stop = self._on_stop, []
        for cb in callbacks:
            cb()


class JobRunner:
    """The workers of one job across its incarnations."""

    def __init__(self, host: TrainerHost, tenant: str, job_id: str) -> None:
        self.host = host
        self.tenant, self.job_id = tenant, job_id
        self.live: Incarnation | None = None
        self.attachments: dict[str, Any] = {}  # a protocol layer's state for this job
        self._op_ids = 0

    def kill(self, inc: Incarnation) -> None:
        """The incarnation is gone: its pending ops never answer; stop listeners run."""
        if self.live is inc:
            self.live = None
        inc.kill()

    def run(
        self, inc: Incarnation, op: str, model_id: str, args: dict[str, Any], done: OpDone
    ) -> None:
        if inc.forward_only and op in TRAINING_OPS:
            done(False, ("user", f"{op} is not allowed: job {self.job_id} is forward-only"))
            return
        fault = None
        if op in _SAVES:
            fault = self.host.before_checkpoint_write(self.tenant, self.job_id)
            args = {**args, "fail_midway": fault is not None}
        elif op == "load_adapter":
            try:  # a promoted LoRA model of the tenant: its sampler checkpoint
                location = self.host.resolve_model(args["ref"], self.tenant).promoted_location
            except Exception as e:  # any lookup failure is the caller's
                done(False, ("user", f"adapter {args['ref']!r}: {e}"))
                return
            if location is None:
                done(False, ("user", f"adapter {args['ref']!r} is a base model, not a PEFT model"))
                return
            args = {**args, "location": str(location)}
        elif op == "load_state":
            args = {
                **args,
                "cross_job_dirs": {j: str(p) for j, p in self.host.job_dirs(self.tenant).items()},
            }
        self._op_ids += 1
        op_id = self._op_ids
        n = len(inc.workers)
        inc.tracks[op_id] = _Track(op, done, n, fault=fault)
        shards = shard(args, n) if op in ("forward", "forward_backward") else [args] * n
        for w, a in zip(inc.workers, shards, strict=False):
            w.send((op_id, op, model_id, a))

    def on_result(self, inc: Incarnation, node: int, op_id: int, ok: bool, payload: Any) -> None:
        """A worker answered; once every node has, answer the op (under the host's lock)."""
        with self.host.lock:
            track = inc.tracks.get(op_id)
            if track is None or inc.dead:
                return
            track.results[node] = (ok, payload)
            if len(track.results) < track.nodes:
                return
            del inc.tracks[op_id]
            self._complete(inc, track)

    def _complete(self, inc: Incarnation, t: _Track) -> None:
        failed = [p for ok, p in (t.results[r] for r in sorted(t.results)) if not ok]
        if failed:
            category, message = failed[0]
            t.done(False, (category, message))
            if t.fault is not None and getattr(t.fault, "kill_trainer", False):
                self.host.report_crash(
                    self.tenant, self.job_id, 1, f"trainer died writing a checkpoint: {message}"
                )
            return
        lead = t.results[0][1]
        if t.op in ("forward", "forward_backward"):
            parts = [t.results[r][1] for r in sorted(t.results) if t.results[r][1] is not None]
            t.done(True, merge_outputs(parts))
        elif t.op == "optim_step":
            if lead.get("applied", True):
                self.host.record_step(self.tenant, self.job_id, int(lead["step"]))
            if inc.dead:  # a fault at this step took the trainer down: the answer is lost
                return
            t.done(True, lead)
        elif t.op in _SAVES:
            self.host.record_checkpoint(
                self.tenant,
                self.job_id,
                lead["name"],
                lead["kind"],
                promotable=lead["kind"].startswith("INFERENCE"),
                location=lead["path"],
                step=lead.get("step"),
            )
            t.done(True, lead)
        else:
            t.done(True, lead or {})
