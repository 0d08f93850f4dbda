"""`PodRuntime`: runs a TrainJob's node pods as real local processes.

Each node pod runs the TrainJob's container command (for a CustomTrainer: the SDK's
`bash -c '... torchrun <file>'`) in a scratch directory, with the environment the Trainer's torch
plugin injects (PET_NNODES, PET_NPROC_PER_NODE, PET_NODE_RANK, PET_MASTER_ADDR/PORT), so torchrun
gives each worker RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT and gloo works on CPU. Stdout and
stderr, merged, are the pod's log.

Time: with a virtual clock, a pod's real compute is modelled as `settle_s` virtual seconds: an
event at RUNNING + settle_s waits (in real time) for the processes to exit and only then marks the
pods Succeeded/Failed and the job Complete/Failed. A fault due earlier (a preemption) fires first,
with the processes still running. So the event log is the same whatever the processes' real
speed. With wall or scaled clocks the exits are applied as they happen.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._state import KubeflowState, Pod, TrainJobRecord

if TYPE_CHECKING:
    from drydock.emulator.control_plane import ControlPlane, Job

__all__ = ["PodRuntime", "RESERVED_ENV"]

RESERVED_ENV = (
    "PET_NNODES",
    "PET_NPROC_PER_NODE",
    "PET_NODE_RANK",
    "PET_MASTER_ADDR",
    "PET_MASTER_PORT",
)
_GRACE_S = 2.0  # SIGTERM -> SIGKILL, as a (short) terminationGracePeriodSeconds
# After one node fails, how long (real seconds) its siblings may take to fail on their own
# before they are killed: ranks running the same failing code usually all exit, and letting
# them keeps the recorded exit codes (and so the event log) independent of which was first.
_SIBLING_GRACE_S = 10.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Attempt:
    """The processes of one attempt of one job, and a thread that waits for them."""

    def __init__(self, rec: TrainJobRecord, pods: list[Pod], procs: list[subprocess.Popen]) -> None:
        self.rec = rec
        self.pods = pods
        self.procs = procs
        self.exited = threading.Event()
        self.codes: list[int | None] = [None] * len(procs)
        self.applied = False
        self.killed = False
        self.killed_siblings: set[int] = set()  # indexes killed because another node failed
        self.settle_event: Any = None
        threading.Thread(target=self._wait, name=f"kubeflow-{rec.name}", daemon=True).start()

    def _wait(self) -> None:
        # Upstream a failed node fails its Job and the JobSet deletes the rest: kill siblings
        # (after a grace in which they may fail by themselves).
        first_failure: float | None = None
        while True:
            for i, p in enumerate(self.procs):
                if self.codes[i] is None and (rc := p.poll()) is not None:
                    self.codes[i] = rc
                    if rc != 0 and first_failure is None:
                        first_failure = time.monotonic()
            if all(c is not None for c in self.codes):
                break
            if (
                first_failure is not None
                and not self.killed
                and time.monotonic() - first_failure > _SIBLING_GRACE_S
            ):
                self.killed_siblings = {i for i, c in enumerate(self.codes) if c is None}
                self.kill(graceful=False)
            time.sleep(0.02)  # real: polling child processes, not a test's wait
        self.exited.set()

    def kill(self, graceful: bool = True) -> None:
        self.killed = True
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM if graceful else signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if graceful:

            def escalate() -> None:
                deadline = time.monotonic() + _GRACE_S
                for p in self.procs:
                    try:
                        p.wait(max(0.0, deadline - time.monotonic()))
                    except subprocess.TimeoutExpired:
                        try:
                            os.killpg(p.pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass

            threading.Thread(target=escalate, daemon=True).start()


class PodRuntime:
    """A `TrainerRuntime` for TrainJobs: one process tree per node pod."""

    reports_steps = False  # pods run user code: no optimizer steps reach the plane (no at_step)

    def __init__(
        self,
        state_getter: Callable[[], KubeflowState],
        *,
        settle_s: float = 5.0,
        max_wait_s: float = 600.0,
        python_bin: str | None = None,
    ) -> None:
        self._state = state_getter
        self.settle_s = settle_s
        self.max_wait_s = max_wait_s
        self.bin_dir = python_bin or str(Path(sys.executable).parent)
        self._cp: ControlPlane | None = None
        self._attempts: dict[tuple[str, str], _Attempt] = {}
        self._scratch_dir: str | None = None  # made on the first pod (most emulators run none)
        # Set by the dialect: record a Kubernetes Event; react to a job that left RUNNING.
        self.on_event: Callable[..., None] = lambda *a, **k: None
        self.on_stopped: Callable[[Job, str], None] = lambda job, reason: None
        self.on_attach: Callable[[ControlPlane], None] = lambda cp: None
        self.on_restart: Callable[[TrainJobRecord], Any] = lambda rec: None

    # ------------------------------------------------------------------ TrainerRuntime
    @property
    def cp(self) -> ControlPlane:
        if self._cp is None:
            raise RuntimeError("PodRuntime is not attached to a control plane")
        return self._cp

    def attach(self, control_plane: ControlPlane) -> None:
        self._cp = control_plane
        self.on_attach(control_plane)

    def is_ready(self, job: Job) -> bool:
        return job.key in self._attempts

    def start(self, job: Job) -> None:
        rec = self._state().job(job.account, job.id)
        if rec is None:
            return
        if job.restarts > rec.attempt:  # the core restarted it under the JobSet's policy
            rec.attempt = job.restarts
            self.on_restart(rec)
        pods = [p for p in rec.pods if p.attempt == rec.attempt]
        if rec.unsupported:
            self._later(0.0, lambda: self._refuse(job, rec, pods))
            return
        port = _free_port()
        procs = []
        for pod in pods:
            procs.append(self._spawn(rec, pod, port))
            pod.phase, pod.started = "Running", self.cp.now()
            self.on_event(rec, "Pod", pod.name, "Started", "Started container node")
        att = _Attempt(rec, pods, procs)
        self._attempts[job.key] = att
        if getattr(self.cp.clock, "kind", "") == "virtual":
            att.settle_event = self._later(self.settle_s, lambda: self._settle(job, att))
        else:
            threading.Thread(target=self._apply_when_exited, args=(job, att), daemon=True).start()

    def stop(self, job: Job, reason: str, graceful: bool = True) -> None:
        self._kill(job, reason, graceful)
        self.on_stopped(job, reason)

    def _kill(self, job: Job, reason: str, graceful: bool) -> None:
        att = self._attempts.pop(job.key, None)
        if att is None or att.applied:
            return
        if att.settle_event is not None:
            att.settle_event.cancel()
        att.applied = True
        att.kill(graceful)
        now = self.cp.now()
        # The core's preemption leaves UNAVAILABLE; a lost node, "node <i> failed".
        evicted = job.status_code == "UNAVAILABLE"
        lost = re.fullmatch(r"node (\d+) failed", reason)
        for pod in att.pods:
            if pod.phase not in ("Running", "Pending"):
                continue
            pod.phase, pod.finished, pod.message = "Failed", now, reason
            if lost and int(lost.group(1)) == pod.index:
                pod.reason = "NodeLost"
                self.on_event(
                    att.rec,
                    "Pod",
                    pod.name,
                    "NodeNotReady",
                    f"Node drydock-node-{pod.index} is not ready: {reason}",
                    warning=True,
                )
            elif evicted:
                pod.reason = "Evicted"
                self.on_event(
                    att.rec, "Pod", pod.name, "Preempted", f"Preempted: {reason}", warning=True
                )
            else:
                pod.reason = "Terminated"
            self.on_event(att.rec, "Pod", pod.name, "Killing", "Stopping container node")

    def close(self) -> None:
        for att in list(self._attempts.values()):
            att.kill(graceful=False)
        self._attempts.clear()
        if self._scratch_dir is not None:
            shutil.rmtree(self._scratch_dir, ignore_errors=True)
            self._scratch_dir = None

    @property
    def _scratch(self) -> str:
        if self._scratch_dir is None:
            self._scratch_dir = tempfile.mkdtemp(prefix="drydock-kubeflow-")
        return self._scratch_dir

    # ------------------------------------------------------------------ processes
    def _spawn(self, rec: TrainJobRecord, pod: Pod, port: int) -> subprocess.Popen:
        workdir = Path(self._scratch) / rec.namespace / pod.name
        workdir.mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(workdir),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "PYTHONUNBUFFERED": "1",  # so follow-mode logs stream
            "GLOO_SOCKET_IFNAME": "lo",
            "TMPDIR": str(workdir),
            "HOSTNAME": pod.name,
        }
        for item in pod.env:
            env[item["name"]] = str(item.get("value", ""))
        env.update(PET_MASTER_PORT=str(port))
        proc = subprocess.Popen(
            pod.command,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def pump() -> None:
            out = proc.stdout
            assert out is not None
            while chunk := out.read1(65536):  # type: ignore[attr-defined]  # a BufferedReader
                pod.log.append(chunk)
            pod.log.close()

        threading.Thread(target=pump, name=f"log-{pod.name}", daemon=True).start()
        return proc

    # ------------------------------------------------------------------ exits -> core
    def _later(self, delay: float, fn: Callable[[], None]) -> Any:
        cp = self.cp

        def run() -> None:
            with cp.lock:
                fn()

        return cp.clock.schedule(delay, run, "kubeflow")

    def _settle(self, job: Job, att: _Attempt) -> None:
        if att.applied:
            return
        if not att.exited.wait(self.max_wait_s):
            att.settle_event = self._later(self.settle_s, lambda: self._settle(job, att))
            return
        self._apply(job, att)

    def _apply_when_exited(self, job: Job, att: _Attempt) -> None:
        att.exited.wait()
        with self.cp.lock:
            self._apply(job, att)

    def _apply(self, job: Job, att: _Attempt) -> None:
        if att.applied or self._attempts.get(job.key) is not att:
            return
        att.applied = True
        now = self.cp.now()
        failed = []
        for i, (pod, code) in enumerate(zip(att.pods, att.codes, strict=True)):
            pod.exit_code, pod.finished = code, now
            if i in att.killed_siblings:
                pod.phase, pod.reason = "Failed", "Terminated"
                pod.message = "killed: another node of the job failed"
                self.on_event(
                    att.rec,
                    "Pod",
                    pod.name,
                    "Killing",
                    "Stopping container node: another node of the job failed",
                )
            elif code == 0:
                pod.phase = "Succeeded"
                self.on_event(att.rec, "Pod", pod.name, "Completed", "Container node completed")
            else:
                pod.phase, pod.reason = "Failed", "Error"
                pod.message = f"container node exited with code {code}"
                failed.append(pod)
                self.on_event(
                    att.rec,
                    "Pod",
                    pod.name,
                    "Failed",
                    f"Container node failed: exit code {code}",
                    warning=True,
                )
        del self._attempts[job.key]
        if failed or att.killed_siblings:
            first = (failed or [att.pods[min(att.killed_siblings)]])[0]
            self.cp.crash_trainer(
                job.account,
                job.id,
                exit_code=first.exit_code or 1,
                reason=f"pod {first.name} failed with exit code {first.exit_code}",
            )
        else:
            self.cp.complete_job(job.account, job.id, "all pods succeeded")

    def _refuse(self, job: Job, rec: TrainJobRecord, pods: list[Pod]) -> None:
        now = self.cp.now()
        for pod in pods:
            pod.phase, pod.finished, pod.reason = "Failed", now, "Unsupported"
            pod.message = rec.unsupported
            pod.log.append(f"drydock: {rec.unsupported}\n".encode())
            pod.log.close()
        self.on_event(rec, "TrainJob", rec.name, "Unsupported", rec.unsupported or "", warning=True)
        self.cp.crash_trainer(job.account, job.id, exit_code=1, reason=rec.unsupported)
