"""TorchRuntime with real worker processes: start/ready, SIGTERM-then-SIGKILL, crash -> FAILED,
and a 2-node data-parallel job (torch.distributed, gloo on CPU) equal to a 1-node one."""

from __future__ import annotations

import os
import signal

import pytest
from test_gateway import DATA, Wire

from drydock.emulator import Emulator
from drydock.emulator.control_plane import JobSpec
from drydock.emulator.dialects.fireworks.tinker.datums import make_datum
from drydock.emulator.runtime import TrainerRuntime
from drydock.trainer import TorchRuntime, default_runtime, thread_runtime

BASE = "accounts/fireworks/models/qwen3-0p6b"
MOE = "accounts/fireworks/models/qwen3-30b-a3b"
TWO_NODE_SHAPE = "accounts/fireworks/trainingShapes/qwen3-30b-a3b-128k-h200"


def _train(w: Wire, steps: int = 2) -> list[float]:
    m = w.connect()
    data = DATA + [make_datum([3, 4, 5, 6])]
    losses = []
    for i in range(steps):
        fb = w.ok("forward_backward", {"forward_backward_input": {"data": data,
                                                                  "loss_fn": "cross_entropy"},
                                       "model_id": m, "seq_id": 2 * i + 1})
        st = w.ok("optim_step", {"adam_params": {"learning_rate": 0.01},
                                 "grad_accumulation_normalization": "num_loss_tokens",
                                 "model_id": m, "seq_id": 2 * i + 2})
        out = w.result(fb["request_id"])
        assert len(out["loss_fn_outputs"]) == 3
        losses.append(out["metrics"]["loss:sum"])
        assert w.result(st["request_id"])["metrics"]["num_loss_tokens:sum"] == 12.0
    return losses


def test_runtimes_implement_the_protocol():
    rt = default_runtime()
    assert rt.mode == "process" and thread_runtime().mode == "thread"
    for name in [n for n in vars(TrainerRuntime) if not n.startswith("_")]:
        assert callable(getattr(rt, name))
    with pytest.raises(ValueError):
        TorchRuntime("fork")


def test_process_worker_crash_fails_the_job_and_stop_terminates():
    emu = Emulator(runtime=TorchRuntime("process", prestart=False, grace_s=0.5, torch_threads=1))
    with emu:
        cp = emu.control_plane
        w = Wire(emu, "crashy")
        cp.create_job("drydock", "crashy", JobSpec(base_model=BASE), dialect="fireworks")
        cp.create_job("drydock", "stopped", JobSpec(base_model=BASE), dialect="fireworks")
        emu.advance(60)
        assert w.c.get(f"{w.t}/healthz").status_code == 200  # waits for the worker to boot
        assert Wire(emu, "stopped").c.get(
            "/training/v1/rlorTrainerJobs/drydock/stopped/api/v1/healthz").status_code == 200
        rt = cp.runtime
        inc = rt.runner("drydock", "crashy").live
        os.kill(inc.workers[0].proc.pid, signal.SIGKILL)
        inc.readers[0].join(30)
        job = cp.jobs[("drydock", "crashy")]
        assert job.state.value == "FAILED" and "exited with code -9" in job.status_message
        assert w.c.get(f"{w.t}/healthz").status_code == 503
        # a graceful stop: SIGTERM, the idle worker leaves at once (exit 0, before the grace)
        other = rt.runner("drydock", "stopped").live
        cp.cancel_job("drydock", "stopped")
        other.readers[0].join(30)
        assert other.workers[0].join(10) and other.workers[0].exit_code == 0
        assert cp.jobs[("drydock", "stopped")].state.value in ("CANCELLING", "CANCELLED")


def test_two_node_job_is_data_parallel_and_matches_one_node():
    one = Emulator(runtime=thread_runtime(torch_threads=1))
    with one:
        one.control_plane.create_job("drydock", "single", JobSpec(base_model=MOE), dialect="fireworks")
        one.advance(60)
        ref = _train(Wire(one, "single"))
    two = Emulator(runtime=TorchRuntime("process", prestart=False, torch_threads=1))
    with two:
        job = two.control_plane.create_job("drydock", "multi", JobSpec(
            base_model=MOE, training_shape=TWO_NODE_SHAPE), dialect="fireworks")
        assert job.node_count == 2
        two.advance(60)
        w = Wire(two, "multi")
        losses = _train(w)
        assert losses == pytest.approx(ref, rel=1e-5)
        inc = two.control_plane.runtime.runner("drydock", "multi").live
        assert len(inc.workers) == 2
        # one node's failure fails the job
        os.kill(inc.workers[1].proc.pid, signal.SIGKILL)
        inc.readers[1].join(30)
        assert two.control_plane.jobs[("drydock", "multi")].state.value == "FAILED"


def test_two_node_checkpoint_inside_an_accumulation_window_keeps_the_window():
    """A save_state between two forward_backward calls of one window holds the nodes' summed
    gradients: loading it (with optimizer) and finishing the window gives the same weights."""
    emu = Emulator(runtime=TorchRuntime("process", prestart=False, torch_threads=1))
    with emu:
        emu.control_plane.create_job("drydock", "acc", JobSpec(
            base_model=MOE, training_shape=TWO_NODE_SHAPE, gradient_accumulation_steps=2),
            dialect="fireworks")
        emu.advance(60)
        w = Wire(emu, "acc")
        m = w.connect()
        seq = iter(range(1, 100))
        a = DATA + [make_datum([3, 4, 5, 6])]
        b = [make_datum([7, 8, 9, 10, 11]), make_datum([2, 3]), make_datum([6, 5, 4])]

        def call(route: str, body: dict) -> dict:
            return w.result(w.ok(route, {**body, "model_id": m, "seq_id": next(seq)})["request_id"])

        def step(data: list) -> dict:
            call("forward_backward", {"forward_backward_input": {"data": data,
                                                                 "loss_fn": "cross_entropy"}})
            return call("optim_step", {"adam_params": {"learning_rate": 0.05},
                                       "grad_accumulation_normalization": "num_loss_tokens"})

        def probe() -> float:
            return call("forward", {"forward_input": {"data": a + b, "loss_fn": "cross_entropy"}}
                        )["metrics"]["loss:sum"]

        before = probe()
        step(a)                                   # deferred: the window holds a's gradients
        assert call("save_weights", {"path": "mid", "type": "save_weights"})["path"] == "mid"
        step(b)                                   # the window closes: one update
        want = probe()
        assert want != before
        call("load_weights", {"path": "mid", "optimizer": True, "type": "load_weights"})
        assert probe() == before
        step(b)
        assert probe() == want
