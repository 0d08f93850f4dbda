"""The trainer runs against a TrainerHost alone (no control plane), and the plane adapter."""

from __future__ import annotations

import ast
import threading
from pathlib import Path

import pytest

from drydock.emulator import Emulator, NullRuntime
from drydock.emulator.control_plane import JobSpec
from drydock.emulator.shapes import LocalModelConfig
from drydock.emulator.trainer_port import (
    PlaneTrainerHost,
    ResolvedModel,
    TrainerJob,
    as_trainer_host,
)
from drydock.trainer import make_example, thread_runtime

ROOT = Path(__file__).resolve().parents[2]
CFG = LocalModelConfig(vocab_size=32, d_model=16, n_layers=1, n_heads=2, d_ff=32, max_seq_len=16)
ADAM = {"learning_rate": 1e-2}


class RecordingHost:
    """A TrainerHost that records every call (the whole port, nothing else)."""

    def __init__(self, data_dir: Path) -> None:
        self.lock = threading.RLock()
        self.data_dir = data_dir
        self.calls: list[tuple] = []

    def log(self, kind, tenant="", job="", **detail):
        self.calls.append(("log", kind))

    def describe(self, job):
        return job

    def record_step(self, tenant, job_id, step):
        self.calls.append(("step", step))

    def record_checkpoint(self, tenant, job_id, name, kind, promotable, location=None, step=None):
        self.calls.append(("checkpoint", name, kind, promotable, step))

    def before_checkpoint_write(self, tenant, job_id):
        return None

    def report_crash(self, tenant, job_id, exit_code, reason):
        self.calls.append(("crash", exit_code))
        return True

    def resolve_model(self, name, tenant=None):
        return ResolvedModel(name, CFG, None)

    def touch(self, tenant, job_id):
        pass

    def job_dirs(self, tenant):
        return {"j": self.data_dir / "checkpoints" / tenant / "j"}


def _call(inc, op, args, model="m1"):
    """Run one op and wait for its answer (the worker thread answers; no clock involved)."""
    got = threading.Event()
    out = []

    def done(ok, payload):
        out.append((ok, payload))
        got.set()

    with inc.runner.host.lock:
        inc.run(op, model, args, done)
    assert got.wait(60), f"{op} never answered"
    return out[0]


@pytest.fixture
def runtime(tmp_path):
    rt = thread_runtime(torch_threads=1)
    host = RecordingHost(tmp_path)
    rt.attach(host)
    yield rt, host
    rt.close()


def _start(rt, **kw) -> object:
    job = TrainerJob(tenant="t", job_id="j", base_model="tiny", model_name="tiny",
                     model_config=CFG, **kw)
    rt.start(job)
    inc = rt.runner("t", "j").live
    inc.wait_started(60)
    assert rt.is_ready(job)
    return inc


def test_gradient_accumulation_applies_the_update_every_n_micro_batches(runtime):
    rt, host = runtime
    inc = _start(rt, gradient_accumulation_steps=2)
    assert _call(inc, "create_model", {"lora_rank": 0, "seed": 0})[0]
    batches = [[make_example([1, 2, 3, 4])], [make_example([5, 6, 7])]]
    steps = []
    for data in batches * 2:  # the seed's loop: forward_backward, optim_step
        ok, _ = _call(inc, "forward_backward", {"data": data, "loss_fn": "cross_entropy"})
        assert ok
        ok, out = _call(inc, "optim_step", {"adam_params": ADAM})
        steps.append((out["applied"], out["step"]))
    assert steps == [(False, 0), (True, 1), (False, 1), (True, 2)]
    # the plane hears of applied updates only
    assert [c for c in host.calls if c[0] == "step"] == [("step", 1), ("step", 2)]
    ok, saved = _call(inc, "save_state", {"name": "c1"})
    assert ok and saved["name"] == "c1" and saved["step"] == 2
    assert ("checkpoint", "c1", "TRAINING", False, 2) in host.calls


def test_a_checkpoint_location_restores_at_start(runtime):
    rt, host = runtime
    inc = _start(rt)
    _call(inc, "create_model", {"lora_rank": 0, "seed": 0})
    _call(inc, "forward_backward", {"data": [make_example([1, 2, 3])], "loss_fn": "cross_entropy"})
    _call(inc, "optim_step", {"adam_params": ADAM})
    ok, saved = _call(inc, "save_state", {"name": "c1"})
    probe = {"data": [make_example([3, 2, 1, 4])], "loss_fn": "cross_entropy"}
    want = _call(inc, "forward", probe)[1]["metrics"]["loss:sum"]
    rt.stop(TrainerJob("t", "j", "tiny", "tiny", CFG), "preempted")
    inc2 = _start(rt, restore_from=saved["path"])
    assert inc2.number == inc.number + 1
    _call(inc2, "create_model", {"lora_rank": 0, "seed": 0})
    assert _call(inc2, "forward", probe)[1]["metrics"]["loss:sum"] == pytest.approx(want)
    ok, out = _call(inc2, "optim_step", {"adam_params": ADAM})
    assert ok and out["step"] == 2 and out["applied"]  # counts on from the restored step 1
    assert [c[1] for c in host.calls if c[0] == "log"] == [
        "trainer.start", "trainer.stop", "trainer.start"]


def test_forward_only_jobs_refuse_training_ops_in_the_runner(runtime):
    rt, _ = runtime
    inc = _start(rt, forward_only=True)
    _call(inc, "create_model", {"lora_rank": 0, "seed": 0})
    ok, (category, message) = _call(inc, "forward_backward", {"data": [], "loss_fn": "x"})
    assert not ok and category == "user" and "forward-only" in message


def test_the_plane_adapter_describes_jobs_and_reports_progress(tmp_path):
    with Emulator(seed=3, data_dir=tmp_path, accounts={"acme": "k"}) as emu:
        cp = emu.control_plane
        host = PlaneTrainerHost(cp)
        assert as_trainer_host(host) is host and isinstance(as_trainer_host(cp), PlaneTrainerHost)
        spec = JobSpec(base_model="accounts/fireworks/models/qwen3-0p6b", lora_rank=4)
        job = cp.create_job("acme", "j1", spec)
        tj = host.describe(job)
        assert (tj.tenant, tj.job_id, tj.lora_rank, tj.gradient_accumulation_steps) == (
            "acme", "j1", 4, 1)
        assert tj.model_config == job.model.local and tj.restore_from is None
        assert host.describe(tj) is tj
        assert host.job_dirs("acme") == {"j1": tmp_path / "checkpoints" / "acme" / "j1"}
        assert host.resolve_model(spec.base_model).promoted_location is None
        emu.advance(60)
        host.record_step("acme", "j1", 3)
        host.record_checkpoint("acme", "j1", "c1", "TRAINING", False, "/x", 3)
        assert cp.jobs[("acme", "j1")].steps == 3
        assert [c.name for c in cp.list_checkpoints("acme", "j1")] == ["c1"]
        assert host.before_checkpoint_write("acme", "j1") is None
        assert host.report_crash("acme", "j1", 7, "boom") is True
        assert cp.jobs[("acme", "j1")].state.value == "FAILED"
        assert host.report_crash("acme", "j1", 7, "again") is False
        assert ("acme", "j1", "boom") in cp.runtime.stops  # NullRuntime, attached via the port
        assert isinstance(cp.runtime, NullRuntime)


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            out.add(("." * node.level) + (node.module or ""))
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_the_trainer_sees_the_plane_only_through_the_port():
    for f in sorted((ROOT / "trainer").glob("*.py")):
        mods = _imports(f)
        assert not any("control_plane" in m or "dialects" in m for m in mods), f.name
        src = f.read_text()
        assert "cp." not in src and ".jobs[" not in src, f.name
    # the core and the Tinker protocol layer reach the trainer only through the port
    fw = ROOT / "emulator" / "dialects" / "fireworks"
    ours = [*(ROOT / "emulator").glob("*.py"), fw / "trainer_routes.py", *(fw / "tinker").glob("*.py")]
    for f in ours:
        assert not any("trainer." in m or m.endswith("trainer") and "port" not in m
                       for m in _imports(f) if "drydock" in m or m.startswith(".")), f.name
