"""checkpoint_on_sigterm: a SIGTERM makes the job write and register a final checkpoint, then
exit, within its grace period. Real subprocesses get a real SIGTERM; the test waits on the
child's readiness line, never on a fixed sleep."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from drydock.sdk.jobs import (
    GRACE_EXPIRED_EXIT_CODE,
    PREEMPTED_EXIT_CODE,
    SAVE_FAILED_EXIT_CODE,
    ExecutionSpec,
    RestoreableJob,
    SigtermGuardError,
)

CHILD = r'''
import os, select, signal, sys, threading
from drydock.sdk.jobs import ExecutionSpec, RestoreableJob

ckpt_dir, mode = sys.argv[1], sys.argv[2]

class Loop(RestoreableJob):
    def run(self): pass
    def restore_from_path(self, rel_path): pass

job = Loop(ExecutionSpec(project="p", group="g", job_name="loop", checkpoints_dir=ckpt_dir,
                         run_id="sigterm1"))
state = {"step": 0}

def save():
    suffix = f"step-{state['step']}"
    job.save_tree_and_metadata(suffix, state, {"step": state["step"]})
    if mode == "hang" and state["step"]:
        threading.Event().wait()  # complete on disk, but never returns: never registered
    if mode == "fail" and state["step"]:
        raise RuntimeError("upload failed")
    return suffix

job.register(save())  # the checkpoint a preempted run must fall back to
with job.checkpoint_on_sigterm(save, grace_s=0.5 if mode == "hang" else 30,
                               defer=mode == "defer") as guard:
    for _ in range(5):
        state["step"] += 1  # "training"
    # Block until a signal arrives, without polling: the wakeup fd gets a byte at the C level
    # (race-free: a signal before select() leaves the byte there). Immediate mode exits inside
    # the handler; deferred mode only sets guard.requested.
    r, w = os.pipe()
    os.set_blocking(w, False)
    signal.set_wakeup_fd(w)
    print("READY", flush=True)
    while not guard.requested:
        select.select([r], [], [])
        os.read(r, 512)
    state["step"] += 1      # deferred mode: finish the step in flight, then checkpoint
    guard.poll()
print("UNREACHABLE", flush=True)
'''


class Loop(RestoreableJob):
    def run(self) -> None:
        pass

    def restore_from_path(self, rel_path: str | Path) -> None:
        self.state, self.meta = self.get_tree_and_metadata_from_path(rel_path, {"step": 0})


def _spec(tmp_path: Path) -> ExecutionSpec:
    return ExecutionSpec(project="p", group="g", job_name="loop", checkpoints_dir=tmp_path,
                         run_id="sigterm1")


def _sigterm_child(tmp_path: Path, mode: str) -> tuple[int, str]:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "ckpts"), mode],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(proc.stdout.readline()), daemon=True).start()
    try:
        ready = lines.get(timeout=60)
        assert ready.strip() == "READY", proc.stderr.read() if proc.poll() is not None else ready
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return code, proc.stderr.read()


def _restored(tmp_path: Path) -> tuple[str | None, Any]:
    spec = _spec(tmp_path / "ckpts")
    job = Loop(spec)
    return job.restore_latest(), getattr(job, "state", None)


def test_sigterm_checkpoints_registers_and_exits(tmp_path: Path) -> None:
    code, err = _sigterm_child(tmp_path, "immediate")
    assert code == PREEMPTED_EXIT_CODE, err
    assert _restored(tmp_path) == ("step-5", {"step": 5})


def test_deferred_sigterm_checkpoints_at_the_next_safe_point(tmp_path: Path) -> None:
    code, err = _sigterm_child(tmp_path, "defer")
    assert code == PREEMPTED_EXIT_CODE, err
    assert _restored(tmp_path) == ("step-6", {"step": 6})


def test_grace_period_bounds_a_stuck_final_checkpoint(tmp_path: Path) -> None:
    code, err = _sigterm_child(tmp_path, "hang")
    assert code == GRACE_EXPIRED_EXIT_CODE, err
    assert "grace_s=0.5" in err
    # step-5 was written completely but never registered: latest still names step-0.
    assert Loop.checkpoints(_spec(tmp_path / "ckpts")) == ["step-0", "step-5"]
    assert _restored(tmp_path) == ("step-0", {"step": 0})


def test_failed_final_checkpoint_exits_nonzero_and_keeps_latest(tmp_path: Path) -> None:
    code, err = _sigterm_child(tmp_path, "fail")
    assert code == SAVE_FAILED_EXIT_CODE and "upload failed" in err
    assert _restored(tmp_path) == ("step-0", {"step": 0})


def test_in_process_guard_restores_previous_handler(tmp_path: Path) -> None:
    job = Loop(_spec(tmp_path))
    state = {"step": 3}

    def save() -> str:
        job.save_tree_and_metadata("final", state, {})
        return "final"

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as exc:
        with job.checkpoint_on_sigterm(save, grace_s=60, exit_code=7) as guard:
            assert signal.getsignal(signal.SIGTERM) != before
            signal.raise_signal(signal.SIGTERM)
            guard.poll()  # not reached in immediate mode: the handler already exited
    assert exc.value.code == 7
    assert signal.getsignal(signal.SIGTERM) == before
    assert Loop.latest(job.spec) == "final"


def test_guard_misuse_is_a_typed_error(tmp_path: Path) -> None:
    job = Loop(_spec(tmp_path))
    with pytest.raises(SigtermGuardError):
        job.checkpoint_on_sigterm(lambda: "x", grace_s=0)
    errors: list[BaseException] = []

    def off_main() -> None:
        try:
            with job.checkpoint_on_sigterm(lambda: "x"):
                pass
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=off_main)
    t.start()
    t.join(timeout=30)
    assert len(errors) == 1 and isinstance(errors[0], SigtermGuardError)
    guard = job.checkpoint_on_sigterm(lambda: "x")
    with guard:
        with pytest.raises(SigtermGuardError):
            guard.__enter__()
