"""drydock.sdk.TrainingClient on the training wire, against a scripted fake trainer
(httpx.MockTransport): futures polling, seq_id order, idempotency keys, failure mapping."""

from __future__ import annotations

import json
from collections import defaultdict, deque

import httpx
import pytest
from _fakes import FakeClock

from drydock.sdk import (
    Datum,
    FutureFailedError,
    FutureLostError,
    RetryPolicy,
    SequenceFailedError,
    TrainerUnavailableError,
    TrainingClient,
)

BASE = "http://trainer.test/training/v1/rlorTrainerJobs/acct/job"
FB_RESULT = {"loss_fn_output_type": "ArrayRecord",
             "loss_fn_outputs": [{"logprobs": {"data": [-1.0, -2.0], "dtype": "float32",
                                               "shape": [2]}}],
             "metrics": {"loss:sum": 3.0}}



class FakeTrainer:
    """Answers submits with request ids r1, r2, ...; retrieve_future answers come from
    `script[request_id]` (a queue of (status, body)), else the op's default result."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict, httpx.Headers]] = []
        self.script: dict[str, deque] = defaultdict(deque)
        self.submit_script: dict[str, deque] = defaultdict(deque)
        self.results: dict[str, dict] = {}
        self.n = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        op = request.url.path.rsplit("/", 1)[-1]
        body = json.loads(request.content or b"{}")
        self.requests.append((op, body, request.headers))
        if self.submit_script[op]:
            status, payload = self.submit_script[op].popleft()
            return httpx.Response(status, json=payload)
        if op == "create_session":
            return httpx.Response(200, json={"session_id": "S"})
        if op == "retrieve_future":
            rid = body["request_id"]
            if self.script[rid]:
                status, payload = self.script[rid].popleft()
                return httpx.Response(status, json=payload)
            return httpx.Response(200, json=self.results[rid])
        if op == "list_checkpoints":
            return httpx.Response(200, json={"checkpoints": ["step-1"]})
        self.n += 1
        rid = f"r{self.n}"
        self.results[rid] = {"create_model": {"model_id": "M", "comms": "v1"},
                             "forward_backward": FB_RESULT, "forward": FB_RESULT,
                             "optim_step": {"metrics": {"grad_norm:mean": 1.0}},
                             "save_weights": {"path": body.get("path"), "type": "save_weights"},
                             "load_weights": {"path": body.get("path")},
                             "save_weights_for_sampler": {"path": body.get("path")}}[op]
        return httpx.Response(200, json={"request_id": rid, "model_id": "M"})

    def ops(self) -> list[str]:
        return [op for op, _, _ in self.requests]


@pytest.fixture
def fake() -> FakeTrainer:
    return FakeTrainer()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(fake, clock) -> TrainingClient:
    return TrainingClient.connect(BASE, "key", base_model="accounts/fireworks/models/qwen3-8b",
                                  http=httpx.Client(transport=httpx.MockTransport(fake)),
                                  clock=clock, retry=RetryPolicy(instant=True))


DATA = [Datum.from_tokens([1, 2, 3])]


def test_connect_ops_and_seq_ids(fake, client):
    assert (client.session_id, client.model_id) == ("S", "M")
    fake.script["r2"].extend([(200, {"type": "try_again", "request_id": "r2",
                                     "queue_state": "active"})] * 2)
    out = client.forward_backward(DATA)
    assert out.loss == 3.0 and out.logprobs == [[-1.0, -2.0]]
    assert client.optim_step(learning_rate=0.01) == {"grad_norm:mean": 1.0}
    assert client.save_state("step-1") == "step-1"
    client.load_state("step-1")
    sampler = client.save_weights_for_sampler("snap")
    assert sampler.startswith("snap-") and len(sampler) == len("snap-") + 8
    seqs = [(op, b["seq_id"]) for op, b, _ in fake.requests if "seq_id" in b]
    assert seqs == [("forward_backward", 1), ("optim_step", 2), ("save_weights", 3),
                    ("load_weights", 4), ("save_weights_for_sampler", 5)]
    assert fake.ops().count("retrieve_future") == 1 + 3 + 4  # create_model + 2 try_again + ops
    fb_body = next(b for op, b, _ in fake.requests if op == "forward_backward")
    datum = fb_body["forward_backward_input"]["data"][0]
    assert datum["model_input"]["chunks"][0]["tokens"] == [1, 2]
    assert datum["loss_fn_inputs"]["target_tokens"] == {"data": [2, 3], "dtype": "int64",
                                                        "shape": [2]}
    assert client.list_checkpoints() == ["step-1"]


def test_idempotency_key_reused_across_http_retries_only(fake, client):
    fake.submit_script["optim_step"].append((503, {"code": 14, "message": "busy"}))
    client.optim_step()
    client.optim_step()
    submits = [(b["seq_id"], h["x-idempotency-key"]) for op, b, h in fake.requests
               if op == "optim_step"]
    assert [s for s, _ in submits] == [1, 1, 2]  # the retry repeats seq_id 1
    assert submits[0][1] == submits[1][1] != submits[2][1]


@pytest.mark.parametrize("status", [404, 410])
def test_lost_future_after_a_restart(fake, client, status):
    fake.script["r2"].append((status, {"code": 5, "message": "gone"}))
    with pytest.raises(FutureLostError) as err:
        client.forward_backward(DATA)
    assert err.value.status_code == status and err.value.request_id == "r2"
    # a failed forward_backward poisons the sequence: no request is even sent
    sent = len(fake.requests)
    with pytest.raises(SequenceFailedError):
        client.optim_step()
    assert len(fake.requests) == sent


def test_failed_op_carries_its_category(fake, client):
    fake.script["r2"].append((200, {"error": "bad loss_fn", "category": "user"}))
    with pytest.raises(FutureFailedError) as err:
        client.optim_step()
    assert err.value.category == "user" and "bad loss_fn" in str(err.value)
    client.optim_step()  # optim_step failures do not poison the model; seq_id 2 was consumed
    assert [b["seq_id"] for op, b, _ in fake.requests if op == "optim_step"] == [1, 2]


def test_408_and_5xx_poll_again(fake, client, clock):
    fake.script["r2"].extend([(408, {"queue_state": "active"}), (502, {"message": "x"}),
                              (429, {"message": "slow down"})])
    assert client.forward_backward(DATA).loss == 3.0
    assert fake.ops().count("retrieve_future") == 1 + 4


def test_unknown_model_on_submit_is_trainer_unavailable(fake, client):
    fake.submit_script["forward_backward"].append((404, {"code": 5, "message": "no model M"}))
    with pytest.raises(TrainerUnavailableError, match="no model M"):
        client.forward_backward(DATA)


def test_checkpoint_refs_are_checked_before_sending(fake, client):
    sent = len(fake.requests)
    with pytest.raises(ValueError, match="bare name"):
        client.load_state("tinker://run/weights/step-1")
    assert len(fake.requests) == sent
    with pytest.raises(ValueError):
        Datum.from_tokens([1])
