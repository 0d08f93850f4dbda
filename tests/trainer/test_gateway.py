"""The trainer gateway on the wire (in process, thread-mode workers): futures, seq_id ordering,
idempotency, gaps, auth, 404/410 after a preemption, checkpoint rows and faults."""

from __future__ import annotations

import pytest

from drydock.emulator import Emulator
from drydock.emulator.control_plane import JobSpec
from drydock.emulator.dialects.fireworks.tinker import finite_output
from drydock.emulator.dialects.fireworks.tinker.datums import make_datum
from drydock.emulator.dialects.fireworks.trainer_routes import gateway_of
from drydock.emulator.faults import CheckpointWriteFailure
from drydock.trainer import thread_runtime
from drydock.trainer._merge import merge_outputs

BASE = "accounts/fireworks/models/qwen3-0p6b"
DATA = [make_datum([1, 2, 3, 4, 5]), make_datum([7, 8, 9, 10, 11, 12])]
ADAM = {"learning_rate": 0.01, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8, "weight_decay": 0.0,
        "grad_clip_norm": 0.0}


class Wire:
    """A raw trainer-wire client for one job."""

    def __init__(self, emu: Emulator, job_id: str, api_key: str | None = None) -> None:
        self.emu, self.job_id = emu, job_id
        self.c = emu.client(api_key=api_key)
        self.t = f"/training/v1/rlorTrainerJobs/drydock/{job_id}/api/v1"

    def post(self, op: str, body: dict):
        return self.c.post(f"{self.t}/{op}", json=body)

    def ok(self, op: str, body: dict) -> dict:
        r = self.post(op, body)
        assert r.status_code == 200, r.text
        return r.json()

    def result(self, request_id: str) -> dict:
        while True:
            r = self.post("retrieve_future", {"request_id": request_id, "allow_metadata_only": True})
            assert r.status_code == 200, r.text
            if r.json().get("type") != "try_again":
                return r.json()

    def connect(self) -> str:
        sid = self.ok("create_session", {"tags": [], "type": "create_session"})["session_id"]
        base = self.emu.control_plane.jobs[("drydock", self.job_id)].spec.base_model
        fut = self.ok("create_model", {"session_id": sid, "model_seq_id": 0, "base_model": base,
                                       "lora_config": {"rank": 0}, "type": "create_model"})
        assert self.result(fut["request_id"]) == {"model_id": fut["model_id"], "comms": "v1"}
        return fut["model_id"]

    def fb(self, model: str, seq: int, data=DATA, loss_fn="cross_entropy") -> dict:
        return self.ok("forward_backward", {"forward_backward_input": {"data": data, "loss_fn": loss_fn},
                                            "model_id": model, "seq_id": seq})

    def step(self, model: str, seq: int) -> dict:
        return self.ok("optim_step", {"adam_params": ADAM, "model_id": model, "seq_id": seq,
                                      "type": "optim_step"})


def start(emu: Emulator, job_id: str, **spec) -> Wire:
    emu.control_plane.create_job("drydock", job_id, JobSpec(base_model=BASE, **spec), dialect="fireworks")
    emu.advance(60)
    return Wire(emu, job_id)


@pytest.fixture
def emu():
    e = Emulator(seed=1, runtime=thread_runtime(torch_threads=1),
                 accounts={"drydock": "drydock-local-key", "rival": "rival-key"})
    yield e
    e.close()


def test_ops_run_in_seq_order_even_when_submitted_out_of_order(emu):
    w = start(emu, "order")
    m = w.connect()
    step = w.step(m, 2)  # arrives first, must wait for seq 1
    gw = gateway_of(emu.control_plane, "drydock", "order")
    assert not gw.lookup(step["request_id"]).done
    fb = w.fb(m, 1)
    out = w.result(fb["request_id"])
    assert out["metrics"]["loss:sum"] > 0 and len(out["loss_fn_outputs"]) == 2
    # the optimizer saw seq 1's gradients: a non-zero gradient norm
    assert w.result(step["request_id"])["metrics"]["grad_norm:mean"] > 0


def test_repeated_submit_is_idempotent_and_results_are_retrievable_again(emu):
    w = start(emu, "idem")
    m = w.connect()
    first = w.fb(m, 1)
    again = w.fb(m, 1)
    assert again["request_id"] == first["request_id"]
    a, b = w.result(first["request_id"]), w.result(first["request_id"])
    assert a == b
    # a repeat did not run the op twice: the step's token count is one batch's
    s = w.step(m, 2)
    assert w.result(s["request_id"])["metrics"]["num_loss_tokens:sum"] == 9.0


def test_rejected_submit_consumes_its_seq_id(emu):
    w = start(emu, "reject")
    m = w.connect()
    bad = w.post("forward_backward", {"model_id": m, "seq_id": 1, "forward_backward_input": {}})
    assert bad.status_code == 400 and "forward_backward_input" in bad.json()["message"]
    s = w.step(m, 2)  # does not wait for seq 1
    assert "metrics" in w.result(s["request_id"])
    assert w.post("forward_backward", {"model_id": m, "seq_id": 1,
                                       "forward_backward_input": {}}).status_code == 400


def test_a_gap_that_is_never_filled_fails_the_waiting_ops(emu):
    w = start(emu, "gap")
    m = w.connect()
    gw = gateway_of(emu.control_plane, "drydock", "gap")
    now = [1000.0]
    gw.monotonic = lambda: now[0]
    s = w.step(m, 2)
    now[0] += gw.gap_timeout_s + 1
    out = w.result(s["request_id"])
    assert out["category"] == "server" and "seq_id 1" in out["error"]
    # the model's sequence goes on after the gap
    fb = w.fb(m, 3)
    assert "metrics" in w.result(fb["request_id"])


def test_unknown_ids_auth_and_unsupported_ops(emu):
    w = start(emu, "errs")
    m = w.connect()
    r = w.post("retrieve_future", {"request_id": "req-99-1"})
    assert r.status_code == 404 and r.json()["message"]
    assert w.post("optim_step", {"adam_params": ADAM, "model_id": "model-1-99", "seq_id": 1}).status_code == 404
    assert Wire(emu, "errs", api_key="wrong").post("create_session", {}).status_code == 401
    assert Wire(emu, "errs", api_key="rival-key").post("create_session", {}).status_code == 403
    ws = w.post("weight_sync", {"model_id": m})
    assert ws.status_code == 404 and "not enabled" in ws.json()["message"]  # RDMA is opt-in
    assert w.post("telemetry", {"events": []}).json() == {"status": "accepted"}
    assert w.ok("session_heartbeat", {"session_id": "session-1-1"}) == {"type": "session_heartbeat"}
    caps = w.c.get(f"{w.t}/get_server_capabilities").json()
    assert caps["supported_models"][0]["model_name"] == BASE
    info = w.ok("get_info", {"model_id": m, "type": "get_info"})
    assert info["model_id"] == m and info["is_lora"] is False


def test_user_errors_fail_the_future_and_the_model_keeps_working(emu):
    w = start(emu, "user")
    m = w.connect()
    bad = w.result(w.fb(m, 1, loss_fn="no_such_loss")["request_id"])
    assert bad["category"] == "user" and "no_such_loss" in bad["error"]
    oob = w.result(w.fb(m, 2, data=[make_datum([1, 2, 99999])])["request_id"])
    assert oob["category"] == "user"
    assert "metrics" in w.result(w.fb(m, 3)["request_id"])


def test_preemption_answers_410_for_old_futures_and_404_for_old_models(emu):
    w = start(emu, "pre")
    m = w.connect()
    w.result(w.fb(m, 1)["request_id"])
    w.result(w.step(m, 2)["request_id"])
    saved = w.result(w.ok("save_weights", {"model_id": m, "path": "step-1", "seq_id": 3,
                                            "overwrite": False, "type": "save_weights"})["request_id"])
    assert saved == {"path": "step-1", "type": "save_weights"}
    pending = w.step(m, 5)  # waits for seq 4 forever: in flight when the trainer dies
    cp = emu.control_plane
    cp.preempt_job("drydock", "pre")
    r = w.post("retrieve_future", {"request_id": pending["request_id"]})
    assert r.status_code == 410 and "stopped" in r.json()["message"]
    assert w.c.get(f"{w.t}/healthz").status_code == 503
    cp.resume_job("drydock", "pre")
    emu.advance(60)
    assert w.c.get(f"{w.t}/healthz").status_code == 200
    assert w.post("forward_backward", {"model_id": m, "seq_id": 4, "forward_backward_input":
                                       {"data": DATA, "loss_fn": "cross_entropy"}}).status_code == 404
    assert w.post("retrieve_future", {"request_id": pending["request_id"]}).status_code == 410
    m2 = w.connect()
    assert w.c.get(f"{w.t}/list_checkpoints").json() == {"checkpoints": ["step-1"]}
    loaded = w.result(w.ok("load_weights", {"model_id": m2, "path": "step-1", "optimizer": True,
                                             "seq_id": 1, "type": "load_weights"})["request_id"])
    assert loaded == {"path": "step-1", "type": "load_weights"}


def test_saves_add_control_plane_rows_and_write_faults_fail_the_save(emu):
    w = start(emu, "rows")
    cp = emu.control_plane
    cp.inject([CheckpointWriteFailure(job="rows", nth=1)])
    m = w.connect()
    failed = w.result(w.ok("save_weights", {"model_id": m, "path": "a", "seq_id": 1})["request_id"])
    assert failed["category"] == "server"
    assert cp.list_checkpoints("drydock", "rows") == []
    w.result(w.ok("save_weights", {"model_id": m, "path": "a", "seq_id": 2})["request_id"])
    s = w.result(w.ok("save_weights_for_sampler", {"model_id": m, "path": "pol-0123abcd",
                                                   "seq_id": 3, "checkpoint_type": "base"})["request_id"])
    assert s["path"] == "pol-0123abcd"
    rows = {r.name: r for r in cp.list_checkpoints("drydock", "rows")}
    assert (rows["a"].kind, rows["a"].promotable) == ("TRAINING", False)
    assert (rows["pol-0123abcd"].kind, rows["pol-0123abcd"].promotable) == ("INFERENCE_BASE", True)


def test_a_write_fault_that_kills_the_trainer_fails_the_job(emu):
    w = start(emu, "killw")
    emu.control_plane.inject([CheckpointWriteFailure(job="killw", nth=1, kill_trainer=True)])
    m = w.connect()
    fut = w.ok("save_weights", {"model_id": m, "path": "a", "seq_id": 1})
    assert w.post("retrieve_future", {"request_id": fut["request_id"]}).status_code in (200, 410)
    job = emu.control_plane.jobs[("drydock", "killw")]
    assert job.state.value == "FAILED" and "checkpoint" in job.status_message


def test_forward_only_job_refuses_training_calls(emu):
    w = start(emu, "fwd", forward_only=True)
    m = w.connect()
    out = w.result(w.ok("forward", {"forward_input": {"data": DATA, "loss_fn": "cross_entropy"},
                                    "model_id": m, "seq_id": 1})["request_id"])
    assert len(out["loss_fn_outputs"]) == 2
    refused = w.result(w.fb(m, 2)["request_id"])
    assert refused["category"] == "user" and "forward-only" in refused["error"]


def test_trainer_calls_touch_the_idle_timer(emu):
    w = start(emu, "touch")
    job = emu.control_plane.jobs[("drydock", "touch")]
    emu.advance(100)
    w.connect()
    assert job.last_activity == emu.clock.now()


def test_promoted_sampler_checkpoint_is_a_base_model_with_those_weights(emu):
    w = start(emu, "src")
    m = w.connect()
    for i in range(3):
        w.result(w.fb(m, 2 * i + 1)["request_id"])
        w.result(w.step(m, 2 * i + 2)["request_id"])
    w.result(w.ok("save_weights_for_sampler", {"model_id": m, "path": "pol-00000001", "seq_id": 7,
                                               "checkpoint_type": "base"})["request_id"])
    fwd = {"forward_input": {"data": DATA, "loss_fn": "cross_entropy"}, "seq_id": 8, "model_id": m}
    trained = w.result(w.ok("forward", fwd)["request_id"])["metrics"]["loss:sum"]
    cp = emu.control_plane
    cp.promote_checkpoint("drydock", "pol-00000001", "tuned", BASE, job_id="src",
                          model_name="accounts/drydock/models/tuned")
    cp.create_job("drydock", "dst", JobSpec(base_model="accounts/drydock/models/tuned"), dialect="fireworks")
    emu.advance(60)
    w2 = Wire(emu, "dst")
    sid = w2.ok("create_session", {})["session_id"]
    fut = w2.ok("create_model", {"session_id": sid, "model_seq_id": 0,
                                 "base_model": "accounts/drydock/models/tuned"})
    m2 = w2.result(fut["request_id"])["model_id"]
    fwd2 = {**fwd, "model_id": m2, "seq_id": 1}
    assert w2.result(w2.ok("forward", fwd2)["request_id"])["metrics"]["loss:sum"] == pytest.approx(trained)


def test_results_never_carry_nan_and_metric_keys_have_one_colon():
    out = finite_output({"loss_fn_outputs": [], "metrics": {"acc": 1.0, "a:b:sum": 2.0}})
    assert set(out["metrics"]) == {"acc:mean", "a_b_sum:mean"}
    # bare `loss` is the contrastive loss's scalar, as the SDK documents it (never chunked)
    assert set(finite_output({"metrics": {"loss": 1.0}})["metrics"]) == {"loss"}
    bad = finite_output({"loss_fn_outputs": [{"logprobs": {"data": [float("nan")]}}], "metrics": {}})
    assert bad["category"] == "user" and "NaN" in bad["error"]
    merged = merge_outputs([
        {"outputs": [{"x": 1}], "metrics": {"loss:sum": 1.0, "acc:mean": 1.0}},
        {"outputs": [{"x": 2}, {"x": 3}], "metrics": {"loss:sum": 2.0, "acc:mean": 0.25}}])
    assert merged["outputs"] == [{"x": 1}, {"x": 2}, {"x": 3}]
    assert merged["metrics"] == {"loss:sum": 3.0, "acc:mean": pytest.approx(0.5)}


def test_gradient_accumulation_steps_from_the_create_body_reaches_the_trainer(emu):
    """trainingConfig.gradientAccumulationSteps (what drydock.sdk sends; the seed's example
    uses 4) -> JobSpec -> TrainerJob -> engine: the plane counts applied updates only."""
    with emu.client() as c:
        r = c.post("/v1/accounts/drydock/rlorTrainerJobs?rlorTrainerJobId=accum",
                   json={"trainingConfig": {"baseModel": BASE, "gradientAccumulationSteps": 2}})
        assert r.status_code == 200, r.text
    emu.advance(60)
    w = Wire(emu, "accum")
    m = w.connect()
    job = emu.control_plane.jobs[("drydock", "accum")]
    assert job.spec.gradient_accumulation_steps == 2
    seen = []
    for i in range(4):
        w.result(w.fb(m, 2 * i + 1)["request_id"])
        out = w.result(w.step(m, 2 * i + 2)["request_id"])
        seen.append((job.steps, out["metrics"]["step:max"]))
    assert seen == [(0, 0.0), (1, 1.0), (1, 1.0), (2, 2.0)]
