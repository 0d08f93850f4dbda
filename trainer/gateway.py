"""The trainer gateway of one job: sessions, models, seq_id ordering and futures.

The HTTP routes (`drydock.emulator.dialects.fireworks.trainer_routes`) translate the Tinker wire
into calls on `JobGateway`; the gateway feeds the job's workers (`worker.py`) in seq_id order and
turns their answers into future results. Everything here is guarded by the control plane's lock
(one lock: the control plane calls `stop` under it, and saves call back into the control plane),
except long-poll waiting, which happens outside it.

An *incarnation* is one run of the job's workers (RUNNING -> preempted -> resumed is two). Ids
carry the incarnation number, so after a restart old request ids answer 410 and old model ids 404.
"""

from __future__ import annotations

import asyncio
import math
import re
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from drydock.emulator.errors import InvalidArgument, NotFound, Unavailable

if TYPE_CHECKING:
    from drydock.emulator.control_plane import ControlPlane, Job

__all__ = ["FutureRecord", "Incarnation", "JobGateway", "Gone", "SEQUENCED_OPS"]

# wire op name -> worker op name
SEQUENCED_OPS = {
    "forward": "forward",
    "forward_backward": "forward_backward",
    "optim_step": "optim_step",
    "save_weights": "save_state",
    "load_weights": "load_state",
    "save_weights_for_sampler": "save_for_sampler",
}
TRAINING_OPS = {"forward_backward", "optim_step"}
_ID_RE = re.compile(r"^(?:req|model|session)-(\d+)-\d+$")


class Gone(Exception):
    """A request id from an incarnation that was stopped (HTTP 410)."""


class FutureRecord:
    """One future: pending until `finish(body)`; long-polled by `wait`."""

    __slots__ = ("request_id", "model_id", "op", "body", "_waiters", "dead")

    def __init__(self, request_id: str, model_id: str | None, op: str) -> None:
        self.request_id, self.model_id, self.op = request_id, model_id, op
        self.body: dict[str, Any] | None = None
        self.dead = False
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future]] = []

    @property
    def done(self) -> bool:
        return self.body is not None or self.dead

    def finish(self, body: dict[str, Any] | None, dead: bool = False) -> None:
        if self.done:
            return
        self.body, self.dead = body, dead
        waiters, self._waiters = self._waiters, []
        for loop, fut in waiters:
            try:
                loop.call_soon_threadsafe(_wake, fut)
            except RuntimeError:  # that loop has closed
                pass

    def fail(self, message: str, category: str = "server") -> None:
        self.finish({"error": message, "category": category})

    def add_waiter(self) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._waiters.append((loop, fut))
        return fut


def _wake(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_result(None)


@dataclass
class _Model:
    model_id: str
    session_id: str
    lora_rank: int
    next_seq: int = 1
    pending: dict[int, Any] = field(default_factory=dict)  # seq -> (op, args, rec) | None
    by_seq: dict[int, Any] = field(default_factory=dict)   # seq -> request_id | ServiceError
    gap_since: float | None = None


@dataclass
class _Track:
    rec: FutureRecord
    op: str
    model_id: str
    nodes: int
    results: dict[int, tuple[bool, Any]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


class Incarnation:
    """One start of a job's workers and everything that dies with them."""

    def __init__(self, number: int, workers: list, forward_only: bool) -> None:
        self.number = number
        self.workers = workers
        self.forward_only = forward_only
        self.started = [threading.Event() for _ in workers]
        self.node_ready = [False] * len(workers)
        self.readers: list[threading.Thread] = []  # one per worker; ends when the worker does
        self.start_error: str | None = None
        self.dead = False
        self.sessions: dict[str, dict[tuple[int], str]] = {}
        self.models: dict[str, _Model] = {}
        self.records: dict[str, FutureRecord] = {}
        self.tracks: dict[int, _Track] = {}
        self._n = 0

    def next_id(self, kind: str) -> str:
        self._n += 1
        return f"{kind}-{self.number}-{self._n}"

    @property
    def ready(self) -> bool:
        return not self.dead and self.start_error is None and all(self.node_ready)


class JobGateway:
    """Gateway state of one job across its incarnations."""

    def __init__(self, cp: "ControlPlane", job: "Job", *, gap_timeout_s: float,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.cp = cp
        self.account, self.job_id = job.account, job.id
        self.gap_timeout_s = gap_timeout_s
        self.monotonic = monotonic
        self.live: Incarnation | None = None
        self.dead_numbers: set[int] = set()
        self._op_ids = 0

    @property
    def lock(self):
        return self.cp.lock

    # ------------------------------------------------------------------ incarnations
    def require_live(self) -> Incarnation:
        inc = self.live
        if inc is None or not inc.ready:
            raise Unavailable(f"the trainer of job {self.job_id} is not running")
        return inc

    def kill(self, inc: Incarnation) -> None:
        """The incarnation is gone: its futures answer 410 from now on (waiters wake)."""
        inc.dead = True
        self.dead_numbers.add(inc.number)
        if self.live is inc:
            self.live = None
        for rec in inc.records.values():
            rec.finish(None, dead=True)

    # ------------------------------------------------------------------ sessions / models
    def create_session(self, wait_s: float = 0.0) -> str:
        inc = self.live
        if inc is not None:  # a booting worker: wait for it (outside the lock) like healthz does
            for ev in inc.started:
                ev.wait(wait_s)
        with self.lock:
            inc = self.require_live()
            sid = inc.next_id("session")
            inc.sessions[sid] = {}
            return sid

    def heartbeat(self, session_id: str) -> None:
        with self.lock:
            inc = self.live
            if inc is None or session_id not in inc.sessions:
                raise NotFound(f"session {session_id!r} not found (the trainer restarted?)")

    def create_model(self, session_id: str, model_seq_id: int, lora_rank: int,
                     seed: int, lora_alpha: float | None = None) -> FutureRecord:
        with self.lock:
            inc = self.require_live()
            models = inc.sessions.get(session_id)
            if models is None:
                raise NotFound(f"session {session_id!r} not found")
            known = models.get((model_seq_id,))
            if known is not None:  # a retried create_model: the same future
                return inc.records[known]
            model_id = inc.next_id("model")
            rec = self._new_record(inc, model_id, "create_model")
            models[(model_seq_id,)] = rec.request_id
            inc.models[model_id] = _Model(model_id, session_id, lora_rank)
            args = {"lora_rank": lora_rank, "seed": seed}
            if lora_alpha:
                args["lora_alpha"] = float(lora_alpha)
            self._send(inc, rec, "create_model", model_id, args,
                       meta={"result": {"model_id": model_id, "comms": "v1"}})
            return rec

    def model(self, model_id: str) -> _Model:
        with self.lock:
            inc = self.live
            m = inc.models.get(model_id) if inc is not None else None
            if m is None:
                raise NotFound(f"model {model_id!r} not found on job {self.job_id}"
                               + (" (the trainer restarted; reconnect and create a new model)"
                                  if self._is_dead_id(model_id) else ""))
            return m

    def unload(self, model_id: str) -> FutureRecord:
        with self.lock:
            self.model(model_id)  # 404 for an unknown or dead model
            inc = self.live
            del inc.models[model_id]
            rec = self._new_record(inc, model_id, "unload")
            self._send(inc, rec, "unload", model_id, {},
                       meta={"result": {"model_id": model_id, "type": "unload_model"}})
            return rec

    # ------------------------------------------------------------------ sequenced submits
    def submit(self, wire_op: str, model_id: str, seq_id: Any, args: dict[str, Any],
               error: Exception | None = None) -> FutureRecord:
        """Accept op `seq_id` of a model; run it once its predecessors ran. `error` (a 4xx the
        route found in the body) rejects the submit but still consumes the seq_id."""
        if isinstance(seq_id, bool) or not isinstance(seq_id, int) or seq_id < 1:
            raise InvalidArgument(f"seq_id must be a positive integer, got {seq_id!r}")
        with self.lock:
            m = self.model(model_id)
            inc = self.live
            seen = m.by_seq.get(seq_id)
            if seen is not None:  # an idempotent repeat (a retry after a lost answer)
                if isinstance(seen, Exception):
                    raise seen
                return inc.records[seen]
            if seq_id < m.next_seq:
                raise InvalidArgument(f"seq_id {seq_id} of model {model_id} was already used")
            if error is not None:
                m.by_seq[seq_id] = error
                m.pending[seq_id] = None
                self._drain(inc, m)
                raise error
            rec = self._new_record(inc, model_id, wire_op)
            m.by_seq[seq_id] = rec.request_id
            m.pending[seq_id] = (wire_op, args, rec)
            self._drain(inc, m)
            return rec

    def _drain(self, inc: Incarnation, m: _Model) -> None:
        while m.next_seq in m.pending:
            item = m.pending.pop(m.next_seq)
            m.next_seq += 1
            if item is not None:
                self._dispatch(inc, m, *item)
        m.gap_since = (m.gap_since or self.monotonic()) if m.pending else None

    def check_gaps(self) -> float | None:
        """Fail ops stuck behind a seq_id that never came; seconds until the next expiry."""
        with self.lock:
            inc = self.live
            if inc is None:
                return None
            now, soonest = self.monotonic(), None
            for m in inc.models.values():
                if not m.pending or m.gap_since is None:
                    continue
                left = m.gap_since + self.gap_timeout_s - now
                if left > 0:
                    soonest = left if soonest is None else min(soonest, left)
                    continue
                missing = m.next_seq
                for seq in sorted(m.pending):
                    item = m.pending.pop(seq)
                    if item is not None:
                        item[2].fail(f"op seq_id {seq} of model {m.model_id} waited more than "
                                     f"{self.gap_timeout_s:g} s for seq_id {missing}, which never "
                                     "arrived", "server")
                    m.next_seq = seq + 1
                m.gap_since = None
            return soonest

    def _dispatch(self, inc: Incarnation, m: _Model, wire_op: str, args: dict, rec: FutureRecord) -> None:
        op = SEQUENCED_OPS[wire_op]
        if inc.forward_only and wire_op in TRAINING_OPS:
            rec.fail(f"{wire_op} is not allowed: job {self.job_id} is forward-only", "user")
            return
        meta: dict[str, Any] = {}
        if op in ("save_state", "save_for_sampler"):
            fault = self.cp.checkpoint_write_fails(self.account, self.job_id)
            args = {**args, "fail_midway": fault is not None}
            meta["fault"] = fault
        elif op == "load_state":
            args = {**args, "cross_job_dirs": self.cross_job_dirs()}
            meta["ref"] = args.get("ref")
        meta["lora"] = m.lora_rank > 0
        self._send(inc, rec, op, m.model_id, args, meta)

    def cross_job_dirs(self) -> dict[str, str]:
        root = self.checkpoint_root()
        return {j.id: str(root / j.id) for (a, _), j in self.cp.jobs.items() if a == self.account}

    def checkpoint_root(self):
        from pathlib import Path

        base = self.cp.data_dir if self.cp.data_dir is not None else Path(".drydock")
        return Path(base) / "checkpoints" / self.account

    # ------------------------------------------------------------------ worker traffic
    def _new_record(self, inc: Incarnation, model_id: str | None, op: str) -> FutureRecord:
        rec = FutureRecord(inc.next_id("req"), model_id, op)
        inc.records[rec.request_id] = rec
        return rec

    def _send(self, inc: Incarnation, rec: FutureRecord, op: str, model_id: str,
              args: dict[str, Any], meta: dict[str, Any]) -> None:
        self._op_ids += 1
        op_id = self._op_ids
        n = len(inc.workers)
        inc.tracks[op_id] = _Track(rec, op, model_id, n, meta=meta)
        shards = _shard(args, n) if op in ("forward", "forward_backward") else [args] * n
        for w, a in zip(inc.workers, shards):
            w.send((op_id, op, model_id, a))

    def on_result(self, inc: Incarnation, node: int, op_id: int, ok: bool, payload: Any) -> None:
        """A worker answered; once every node has, complete the future (under the lock)."""
        with self.lock:
            track = inc.tracks.get(op_id)
            if track is None or inc.dead:
                return
            track.results[node] = (ok, payload)
            if len(track.results) < track.nodes:
                return
            del inc.tracks[op_id]
            self._complete(inc, track)

    def _complete(self, inc: Incarnation, t: _Track) -> None:
        rec = t.rec
        failed = [p for ok, p in (t.results[r] for r in sorted(t.results)) if not ok]
        if failed:
            category, message = failed[0]
            fault = t.meta.get("fault")
            rec.fail(message, category)
            if fault is not None and getattr(fault, "kill_trainer", False):
                self.cp.crash_trainer(self.account, self.job_id, exit_code=1,
                                      reason=f"trainer died writing a checkpoint: {message}")
            return
        lead = t.results[0][1]
        if t.op == "create_model":
            rec.finish(t.meta["result"])
        elif t.op == "unload":
            rec.finish(t.meta["result"])
        elif t.op in ("forward", "forward_backward"):
            parts = [t.results[r][1] for r in sorted(t.results) if t.results[r][1] is not None]
            rec.finish(finite_output(merge_outputs(parts)))
        elif t.op == "optim_step":
            self.cp.on_step(self.account, self.job_id, int(lead["step"]))
            if inc.dead:  # a fault at this step took the trainer down: the answer is lost
                return
            rec.finish(sanitize_optim(lead["result"]))
        elif t.op in ("save_state", "save_for_sampler"):
            self.cp.record_checkpoint(self.account, self.job_id, lead["name"], lead["kind"],
                                      promotable=lead["kind"].startswith("INFERENCE"),
                                      location=lead["path"], step=lead.get("step"))
            body = {"path": lead["name"]}
            if t.op == "save_state":
                body["type"] = "save_weights"
            rec.finish(body)
        elif t.op == "load_state":
            rec.finish({"path": t.meta.get("ref") or None, "type": "load_weights"})
        else:
            rec.finish(lead or {})

    # ------------------------------------------------------------------ polling
    def lookup(self, request_id: str) -> FutureRecord:
        with self.lock:
            inc = self.live
            rec = inc.records.get(request_id) if inc is not None else None
            if rec is not None:
                return rec
            if self._is_dead_id(request_id):
                raise Gone(f"request {request_id} was lost: the trainer of job {self.job_id} "
                           "was stopped (preempted or failed); reconnect and retry")
            raise NotFound(f"request {request_id!r} not found on job {self.job_id}")

    def _is_dead_id(self, some_id: str) -> bool:
        m = _ID_RE.match(some_id)
        return bool(m) and int(m.group(1)) in self.dead_numbers

    async def wait(self, rec: FutureRecord, timeout_s: float) -> None:
        """Long-poll: return when `rec` is done, a seq gap expires, or after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while True:
            gap = self.check_gaps()
            with self.lock:
                if rec.done:
                    return
                fut = rec.add_waiter()
            left = deadline - time.monotonic()
            if left <= 0:
                return
            wait_s = left if gap is None else min(left, gap + 0.01)
            try:
                await asyncio.wait_for(fut, wait_s)
            except asyncio.TimeoutError:
                if time.monotonic() >= deadline:
                    return


# ---------------------------------------------------------------------------- result helpers
def _shard(args: dict[str, Any], n: int) -> list[dict[str, Any]]:
    """Contiguous shards of the datums, one per node (order kept: node r's outputs come r-th)."""
    data = args["data"]
    size, extra = divmod(len(data), n)
    out, start = [], 0
    for r in range(n):
        end = start + size + (1 if r < extra else 0)
        out.append({**args, "data": data[start:end]})
        start = end
    return out


def merge_outputs(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Combine per-node ForwardBackwardOutputs (sum keys add, mean keys weight by datums)."""
    if not parts:
        return {"loss_fn_output_type": "ArrayRecord", "loss_fn_outputs": [], "metrics": {}}
    if len(parts) == 1:
        return parts[0]
    outputs = [o for p in parts for o in p.get("loss_fn_outputs", [])]
    counts = [max(len(p.get("loss_fn_outputs", [])), 1) for p in parts]
    metrics: dict[str, float] = {}
    for key in parts[0].get("metrics", {}):
        vals = [p["metrics"][key] for p in parts if key in p.get("metrics", {})]
        red = key.rsplit(":", 1)[-1]
        if red == "sum":
            metrics[key] = float(sum(vals))
        elif red == "mean":
            metrics[key] = float(sum(v * c for v, c in zip(vals, counts)) / sum(counts))
        elif red == "min":
            metrics[key] = float(min(vals))
        elif red == "max":
            metrics[key] = float(max(vals))
        else:
            metrics[key] = vals[0]
    return {**parts[0], "loss_fn_outputs": outputs, "metrics": metrics}


def _non_finite(obj: Any) -> bool:
    if isinstance(obj, float):
        return not math.isfinite(obj)
    if isinstance(obj, dict):
        return any(_non_finite(v) for v in obj.values())
    if isinstance(obj, list):
        return any(_non_finite(v) for v in obj)
    return False


def _colon_key(key: str) -> str:
    """Metric keys must be `<name>:<reduction>` with exactly one colon (or the client raises)."""
    if key.count(":") == 1:
        return key
    return key.replace(":", "_") + ":mean"


def finite_output(out: dict[str, Any]) -> dict[str, Any]:
    """A ForwardBackwardOutput safe for the client: colon-ruled metric keys, no NaN/Inf."""
    out = {**out, "metrics": {_colon_key(k): v for k, v in out.get("metrics", {}).items()}}
    out.setdefault("loss_fn_output_type", "ArrayRecord")
    if _non_finite(out):
        return {"error": "the trainer produced non-finite values (NaN/Inf): the loss diverged; "
                         "lower the learning rate or check the inputs", "category": "user"}
    return out


def sanitize_optim(out: dict[str, Any] | None) -> dict[str, Any]:
    """optim_step metrics without NaN/Inf (dropped: JSON cannot carry them)."""
    metrics = (out or {}).get("metrics") or {}
    clean = {k: float(v) for k, v in metrics.items()
             if isinstance(v, (int, float)) and math.isfinite(float(v))}
    return {"metrics": clean}
