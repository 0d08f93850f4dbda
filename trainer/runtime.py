"""`TorchRuntime`: a real torch trainer behind every RUNNING job.

Implements `drydock.emulator.runtime.TrainerRuntime`. `start(job)` launches the job's workers
(one per node; OS processes by default, threads in fast mode) and a reader thread per worker that
turns its answers into future results; `stop` kills the incarnation at once for the wire (futures
410, models 404, healthz down) and then SIGTERMs the workers, waits a grace period (real seconds)
and SIGKILLs them. A worker that exits on its own fails the job via `crash_trainer`.
"""

from __future__ import annotations

import socket
import threading
from typing import TYPE_CHECKING, Any

from .gateway import Incarnation, JobGateway
from .worker import FAILED_START, READY, ProcessWorker, ThreadWorker, WorkerConfig

if TYPE_CHECKING:
    from drydock.emulator.control_plane import ControlPlane, Job

__all__ = ["TorchRuntime", "default_runtime", "thread_runtime"]


class TorchRuntime:
    """Torch workers per RUNNING job.

    mode: "process" (default; a spawned OS process per node) or "thread" (in-process, fast).
    grace_s: real seconds between SIGTERM and SIGKILL. ready_wait_s: how long a healthz probe
    may wait for a starting worker (real seconds) before answering "not ready".
    gap_timeout_s: how long ops wait for a missing seq_id before they fail.
    prestart: (process mode) keep one spare worker process booted, torch imported, so the next
    job start (a resume after a preemption, say) takes the engine build only.
    poll_timeout_s: the long-poll bound of retrieve_future (real seconds).
    """

    def __init__(self, mode: str = "process", *, device: str | None = None,
                 grace_s: float = 2.0, ready_wait_s: float = 60.0, gap_timeout_s: float = 60.0,
                 poll_timeout_s: float = 10.0, torch_threads: int | None = None,
                 prestart: bool = True) -> None:
        if mode not in ("process", "thread"):
            raise ValueError(f"mode must be 'process' or 'thread', got {mode!r}")
        self.mode = mode
        self.device = device
        self.grace_s = grace_s
        self.ready_wait_s = ready_wait_s
        self.gap_timeout_s = gap_timeout_s
        self.poll_timeout_s = poll_timeout_s
        self.torch_threads = torch_threads
        self.prestart = prestart  # process mode: keep one booted spare process for the next start
        self._spare: ProcessWorker | None = None
        self.cp: "ControlPlane | None" = None
        self.gateways: dict[tuple[str, str], JobGateway] = {}
        self._reapers: list[threading.Thread] = []
        self._incarnations = 0

    # ------------------------------------------------------------------ TrainerRuntime
    def attach(self, control_plane: "ControlPlane") -> None:
        self.close()
        self.cp = control_plane
        self.gateways = {}
        if self.mode == "process" and self.prestart:
            self._spare = ProcessWorker()

    def gateway(self, account: str, job_id: str) -> JobGateway | None:
        return self.gateways.get((account, job_id))

    def start(self, job: "Job") -> None:
        cp = self.cp
        gw = self.gateways.get(job.key)
        if gw is None:
            gw = self.gateways[job.key] = JobGateway(cp, job, gap_timeout_s=self.gap_timeout_s)
        if gw.live is not None:
            gw.kill(gw.live)
        cfgs = self._configs(job, gw)
        if self.mode == "process":
            workers = [self._take_process(c) for c in cfgs]
            self._spare = ProcessWorker() if self.prestart else None
        else:
            workers = [ThreadWorker(c) for c in cfgs]
        self._incarnations += 1
        inc = Incarnation(self._incarnations, workers, job.spec.forward_only)
        gw.live = inc
        cp.log("trainer.start", job.account, job.id, mode=self.mode, nodes=len(workers),
               incarnation=inc.number)
        for node, w in enumerate(workers):
            t = threading.Thread(target=self._read, args=(gw, inc, node, w), daemon=True,
                                 name=f"drydock-reader-{job.id}-{node}")
            inc.readers.append(t)
            t.start()

    def _configs(self, job: "Job", gw: JobGateway) -> list[WorkerConfig]:
        ckpt = gw.checkpoint_root() / job.id
        ckpt.mkdir(parents=True, exist_ok=True)
        _, promoted = self.cp.resolve_base_model(job.spec.base_model)
        nodes = max(1, job.node_count)
        dist_init = f"tcp://127.0.0.1:{_free_port()}" if nodes > 1 else None
        precision = job.shape_version.base_model_weight_precision if job.shape_version else None
        return [WorkerConfig(
            account=job.account, job_id=job.id, model_config=job.model.local.model_dump(),
            checkpoint_dir=str(ckpt), lora_rank=job.spec.lora_rank, device=self.device,
            weight_precision=precision if self.device and self.device.startswith("cuda") else None,
            forward_only=job.spec.forward_only,
            init_weights=promoted.location if promoted is not None else None,
            cross_job_dirs=gw.cross_job_dirs(), rank=r, world_size=nodes, dist_init=dist_init,
            torch_threads=self.torch_threads) for r in range(nodes)]

    def is_ready(self, job: "Job") -> bool:
        gw = self.gateways.get(job.key)
        inc = gw.live if gw is not None else None
        if inc is None or inc.dead:
            return False
        for ev in inc.started:  # a starting worker: let the probe wait a little for it
            if not ev.wait(self.ready_wait_s):
                return False
        return inc.ready

    def stop(self, job: "Job", reason: str, graceful: bool = True) -> None:
        gw = self.gateways.get(job.key)
        inc = gw.live if gw is not None else None
        if inc is None:
            return
        gw.kill(inc)
        self.cp.log("trainer.stop", job.account, job.id, reason=reason, graceful=graceful,
                    incarnation=inc.number)
        t = threading.Thread(target=self._reap, args=(inc.workers, graceful), daemon=True,
                             name=f"drydock-reaper-{job.id}")
        t.start()
        self._reapers.append(t)

    def close(self) -> None:
        spare, self._spare = getattr(self, "_spare", None), None
        if spare is not None:
            spare.kill()
            spare.close()
        for gw in list(self.gateways.values()):
            if gw.live is not None:
                inc = gw.live
                gw.kill(inc)
                t = threading.Thread(target=self._reap, args=(inc.workers, False), daemon=True)
                t.start()
                self._reapers.append(t)
        for t in self._reapers:
            t.join(timeout=self.grace_s + 10)
        self._reapers = []

    # ------------------------------------------------------------------ internals
    def _take_process(self, cfg: WorkerConfig) -> ProcessWorker:
        """The pre-started spare process (torch already imported) if there is a live one."""
        spare, self._spare = self._spare, None
        if spare is not None and spare.exit_code is None:
            spare.assign(cfg)
            return spare
        if spare is not None:
            spare.close()
        return ProcessWorker(cfg)

    def _reap(self, workers: list, graceful: bool) -> None:
        """SIGTERM, a grace period, then SIGKILL (thread mode: flag and drop)."""
        for w in workers:
            (w.terminate if graceful else w.kill)()
        if graceful:
            for w in workers:
                w.join(self.grace_s)
        for w in workers:
            if self.mode == "process":
                w.kill()
                w.join(5)
            w.close()

    def _read(self, gw: JobGateway, inc: Incarnation, node: int, worker: Any) -> None:
        """Answers from one worker; its unexpected exit fails the job."""
        reason = None
        while True:
            try:
                op_id, ok, payload = worker.recv()
            except (EOFError, OSError):
                break
            if op_id == READY:
                inc.node_ready[node] = True  # no lock: is_ready waits for this under cp.lock
                inc.started[node].set()
                continue
            if op_id == FAILED_START:
                reason = f"trainer node {node} failed: {payload}"
                inc.start_error = reason
                inc.started[node].set()
                break
            gw.on_result(inc, node, op_id, ok, payload)
        for ev in inc.started:
            ev.set()  # nobody waits for a worker that is gone
        if inc.dead:
            return  # stopped on purpose
        code = None
        if self.mode == "process":
            worker.join(5)
            code = worker.exit_code
        reason = reason or (f"trainer node {node} exited with code {code}" if code is not None
                            else f"trainer node {node} exited")
        cp = self.cp
        with cp.lock:
            if not inc.dead:
                cp.log("trainer.crashed", gw.account, gw.job_id, node=node, exit_code=code)
                if not cp.crash_trainer(gw.account, gw.job_id, exit_code=code or 1,
                                        reason=reason):
                    self.stop(cp.jobs[(gw.account, gw.job_id)], reason, graceful=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def default_runtime(**kwargs: Any) -> TorchRuntime:
    """The torch runtime with a worker process per node (what `drydock serve` uses)."""
    return TorchRuntime("process", **kwargs)


def thread_runtime(**kwargs: Any) -> TorchRuntime:
    """The torch runtime with in-process worker threads (fast tests; no process isolation)."""
    return TorchRuntime("thread", **kwargs)


# The wire routes live with the Fireworks dialect; importing them registers them on every app.
from drydock.emulator.dialects.fireworks import trainer_routes as _trainer_routes  # noqa: E402,F401
