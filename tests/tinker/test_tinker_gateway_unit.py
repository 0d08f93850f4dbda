"""TinkerGateway over a fake trainer runner: ids per incarnation, ordering, 404/410, gaps."""

from __future__ import annotations

import threading

import pytest

from drydock.emulator.dialects.fireworks.tinker import Gone, TinkerGateway
from drydock.emulator.errors import InvalidArgument, NotFound, Unavailable


class FakeIncarnation:
    def __init__(self, number: int, forward_only: bool = False) -> None:
        self.number, self.forward_only = number, forward_only
        self.dead, self.ready = False, True
        self.ran: list[tuple[str, str, dict]] = []
        self.pending: list = []
        self._stops: list = []

    def wait_started(self, timeout_s: float) -> None:
        pass

    def run(self, op, model_id, args, done) -> None:
        self.ran.append((op, model_id, args))
        self.pending.append((op, done))

    def answer(self, i: int, ok: bool, payload) -> None:
        self.pending[i][1](ok, payload)

    def on_stop(self, cb) -> None:
        self._stops.append(cb)

    def stop(self) -> None:
        self.dead = True
        for cb in self._stops:
            cb()


class FakeRunner:
    def __init__(self) -> None:
        self.tenant, self.job_id, self.attachments = "t", "job", {}
        self.live: FakeIncarnation | None = FakeIncarnation(1)


@pytest.fixture
def setup():
    runner, now = FakeRunner(), [0.0]
    gw = TinkerGateway(runner, threading.RLock(), gap_timeout_s=5.0, monotonic=lambda: now[0])
    return gw, runner, now


def _model(gw, runner) -> str:
    sid = gw.create_session()
    rec = gw.create_model(sid, 0, lora_rank=0, seed=1)
    assert gw.create_model(sid, 0, lora_rank=0, seed=1) is rec  # a retry: the same future
    runner.live.answer(0, True, {"model_id": rec.model_id})
    assert rec.body == {"model_id": rec.model_id, "comms": "v1"}
    return rec.model_id


def test_ids_carry_the_incarnation_and_ops_reach_the_trainer_in_seq_order(setup):
    gw, runner, _ = setup
    m = _model(gw, runner)
    assert m == "model-1-2"
    step = gw.submit("optim_step", m, 2, {"adam_params": {}})
    assert [r[0] for r in runner.live.ran] == ["create_model"]  # seq 2 waits for seq 1
    fb = gw.submit("forward_backward", m, 1, {"data": []})
    assert [r[0] for r in runner.live.ran] == ["create_model", "forward_backward", "optim_step"]
    assert gw.submit("forward_backward", m, 1, {"data": []}) is fb  # idempotent repeat
    runner.live.answer(2, True, {"result": {"metrics": {"grad_norm:mean": 1.0}}, "step": 1})
    runner.live.answer(1, False, ("user", "bad tokens"))
    assert step.body == {"metrics": {"grad_norm:mean": 1.0}}
    assert fb.body == {"error": "bad tokens", "category": "user"}
    assert gw.lookup(step.request_id) is step


def test_a_stopped_incarnation_answers_410_for_its_requests_and_404_for_its_models(setup):
    gw, runner, _ = setup
    m = _model(gw, runner)
    rec = gw.submit("forward", m, 1, {"data": []})
    old = runner.live
    runner.live = None
    old.stop()
    assert rec.dead
    with pytest.raises(Gone):
        gw.lookup(rec.request_id)
    with pytest.raises(Unavailable):
        gw.create_session()
    runner.live = FakeIncarnation(2)  # restarted
    with pytest.raises(NotFound, match="the trainer restarted"):
        gw.model(m)
    with pytest.raises(NotFound):
        gw.lookup("req-7-1")  # never existed
    assert gw.create_session() == "session-2-1"


def test_a_gap_never_filled_fails_the_waiting_ops_on_the_injected_clock(setup):
    gw, runner, now = setup
    m = _model(gw, runner)
    rec = gw.submit("optim_step", m, 2, {"adam_params": {}})
    assert gw.check_gaps() == pytest.approx(5.0)
    now[0] = 5.0
    assert gw.check_gaps() is None
    assert rec.body["category"] == "server" and "seq_id 1" in rec.body["error"]
    assert "waited more than 5 s" in rec.body["error"]
    with pytest.raises(InvalidArgument, match="already used"):
        gw.submit("forward", m, 1, {"data": []})


def test_a_route_rejection_consumes_the_seq_id_and_content_errors_fail_in_turn(setup):
    from drydock.emulator.dialects.fireworks.tinker import REJECTED

    gw, runner, _ = setup
    m = _model(gw, runner)
    with pytest.raises(InvalidArgument):
        gw.submit("forward", m, 1, {}, InvalidArgument("bad body"))
    with pytest.raises(InvalidArgument, match="bad body"):  # the repeat gets the same error
        gw.submit("forward", m, 1, {})
    rec = gw.submit("forward", m, 2, {REJECTED: "data[0]: bad"})
    assert rec.body == {"error": "data[0]: bad", "category": "user"}
    assert [r[0] for r in runner.live.ran] == ["create_model"]  # nothing reached the trainer
