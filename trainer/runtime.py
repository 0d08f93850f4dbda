"""`TorchRuntime`: a real torch trainer behind every RUNNING job.

Implements `drydock.emulator.runtime.TrainerRuntime` and sees the plane only through its
`TrainerHost`. `start(job)` launches the job's workers (one per node; OS processes by default,
threads in fast mode) and a reader thread per worker that turns its answers into op answers;
`stop` kills the incarnation at once for the protocol layer (its ops never answer, its stop
listeners run) and then SIGTERMs the workers, waits a grace period (real seconds) and SIGKILLs
them. A worker that exits on its own fails the job via `host.report_crash`. A service's protocol
layer reaches a job's workers through `runner(tenant, job_id)` (see `trainer_port.JobRunner`).
"""

from __future__ import annotations

import socket
import threading
from typing import Any

from drydock.emulator.trainer_port import TrainerHost, TrainerJob, as_trainer_host

from ._runner import Incarnation, JobRunner
from .worker import FAILED_START, READY, ProcessWorker, ThreadWorker, WorkerConfig

__all__ = ["TorchRuntime", "default_runtime", "thread_runtime"]


class TorchRuntime:
    """Torch workers per RUNNING job.

    mode: "process" (default; a spawned OS process per node) or "thread" (in-process, fast).
    grace_s: real seconds between SIGTERM and SIGKILL. ready_wait_s: how long a healthz probe
    may wait for a starting worker (real seconds) before answering "not ready".
    gap_timeout_s: how long a protocol layer lets ops wait for a missing sequence number.
    prestart: (process mode) keep one spare worker process booted, torch imported, so the next
    job start (a resume after a preemption, say) takes the engine build only.
    poll_timeout_s: the long-poll bound a protocol layer uses for its futures (real seconds).
    """

    def __init__(
        self,
        mode: str = "process",
        *,
        device: str | None = None,
        grace_s: float = 2.0,
        ready_wait_s: float = 60.0,
        gap_timeout_s: float = 60.0,
        poll_timeout_s: float = 10.0,
        torch_threads: int | None = None,
        prestart: bool = True,
    ) -> None:
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
        self._host: TrainerHost | None = None
        self.runners: dict[tuple[str, str], JobRunner] = {}
        self._reapers: list[threading.Thread] = []
        self._incarnations = 0

    # ------------------------------------------------------------------ TrainerRuntime
    @property
    def host(self) -> TrainerHost:
        if self._host is None:
            raise RuntimeError("TorchRuntime.attach(host) was not called")
        return self._host

    def attach(self, host: TrainerHost) -> None:
        self.close()
        self._host = as_trainer_host(host)
        self.runners = {}
        if self.mode == "process" and self.prestart:
            self._spare = ProcessWorker()

    def runner(self, tenant: str, job_id: str) -> JobRunner | None:
        """The job's workers across its incarnations (None: never started)."""
        return self.runners.get((tenant, job_id))

    def _job(self, job: Any) -> TrainerJob:
        return self.host.describe(job)

    def start(self, job: Any) -> None:
        host, tj = self.host, self._job(job)
        runner = self.runners.get(tj.key)
        if runner is None:
            runner = self.runners[tj.key] = JobRunner(host, tj.tenant, tj.job_id)
        if runner.live is not None:
            runner.kill(runner.live)
        cfgs = self._configs(tj)
        workers: list[Any]
        if self.mode == "process":
            workers = [self._take_process(c) for c in cfgs]
            self._spare = ProcessWorker() if self.prestart else None
        else:
            workers = [ThreadWorker(c) for c in cfgs]
        self._incarnations += 1
        inc = Incarnation(runner, self._incarnations, workers, tj.forward_only)
        runner.live = inc
        host.log(
            "trainer.start",
            tj.tenant,
            tj.job_id,
            mode=self.mode,
            nodes=len(workers),
            incarnation=inc.number,
        )
        for node, w in enumerate(workers):
            t = threading.Thread(
                target=self._read,
                args=(runner, inc, node, w),
                daemon=True,
                name=f"drydock-reader-{tj.job_id}-{node}",
            )
            inc.readers.append(t)
            t.start()

    def _configs(self, tj: TrainerJob) -> list[WorkerConfig]:
        dirs = self.host.job_dirs(tj.tenant)
        ckpt = self.host.data_dir / "checkpoints" / tj.tenant / tj.job_id
        ckpt.mkdir(parents=True, exist_ok=True)
        nodes = max(1, tj.node_count)
        dist_init = f"tcp://127.0.0.1:{_free_port()}" if nodes > 1 else None
        cuda = bool(self.device and self.device.startswith("cuda"))
        return [
            WorkerConfig(
                account=tj.tenant,
                job_id=tj.job_id,
                model_config=tj.model_config.model_dump(),
                checkpoint_dir=str(ckpt),
                lora_rank=tj.lora_rank,
                device=self.device,
                weight_precision=tj.weight_precision if cuda else None,
                forward_only=tj.forward_only,
                init_weights=tj.promoted_location,
                cross_job_dirs={j: str(p) for j, p in dirs.items()},
                rank=r,
                world_size=nodes,
                dist_init=dist_init,
                torch_threads=self.torch_threads,
                gradient_accumulation_steps=tj.gradient_accumulation_steps,
                restore_from=tj.restore_from,
            )
            for r in range(nodes)
        ]

    def is_ready(self, job: Any) -> bool:
        runner = self.runners.get(job.key)
        inc = runner.live if runner is not None else None
        if inc is None or inc.dead:
            return False
        for ev in inc.started:  # a starting worker: let the probe wait a little for it
            if not ev.wait(self.ready_wait_s):
                return False
        return inc.ready

    def stop(self, job: Any, reason: str, graceful: bool = True) -> None:
        self._stop(job.key, reason, graceful)

    def _stop(self, key: tuple[str, str], reason: str, graceful: bool) -> None:
        runner = self.runners.get(key)
        inc = runner.live if runner is not None else None
        if runner is None or inc is None:
            return
        runner.kill(inc)
        self.host.log(
            "trainer.stop", key[0], key[1], reason=reason, graceful=graceful, incarnation=inc.number
        )
        t = threading.Thread(
            target=self._reap,
            args=(inc.workers, graceful),
            daemon=True,
            name=f"drydock-reaper-{key[1]}",
        )
        t.start()
        self._reapers.append(t)

    def close(self) -> None:
        spare, self._spare = getattr(self, "_spare", None), None
        if spare is not None:
            spare.kill()
            spare.close()
        for runner in list(getattr(self, "runners", {}).values()):
            if runner.live is not None:
                inc = runner.live
                runner.kill(inc)
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

    def _read(self, runner: JobRunner, inc: Incarnation, node: int, worker: Any) -> None:
        """Answers from one worker; its unexpected exit fails the job."""
        reason = None
        while True:
            try:
                op_id, ok, payload = worker.recv()
            except (EOFError, OSError):
                break
            if op_id == READY:
                inc.node_ready[node] = True  # no lock: is_ready may wait for this under it
                inc.started[node].set()
                continue
            if op_id == FAILED_START:
                reason = f"trainer node {node} failed: {payload}"
                inc.start_error = reason
                inc.started[node].set()
                break
            runner.on_result(inc, node, op_id, ok, payload)
        for ev in inc.started:
            ev.set()  # nobody waits for a worker that is gone
        if inc.dead:
            return  # stopped on purpose
        code = None
        if self.mode == "process":
            worker.join(5)
            code = worker.exit_code
        reason = reason or (
            f"trainer node {node} exited with code {code}"
            if code is not None
            else f"trainer node {node} exited"
        )
        host = self.host
        with host.lock:
            if not inc.dead:
                host.log("trainer.crashed", runner.tenant, runner.job_id, node=node, exit_code=code)
                if not host.report_crash(runner.tenant, runner.job_id, code or 1, reason):
                    self._stop(runner_key(runner), reason, graceful=False)


def runner_key(runner: JobRunner) -> tuple[str, str]:
    return (runner.tenant, runner.job_id)


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
