"""Batch-coupled embedding outputs on a 2-node job: the cosine matrix and the contrastive loss
are computed over the request's whole batch (the SDK sends it as one request for exactly that
reason), not per node's shard, so a 2-node job answers what a 1-node job does."""

from __future__ import annotations

import pytest
from test_gateway import Wire
from test_runtime import MOE, TWO_NODE_SHAPE

from drydock.emulator import Emulator
from drydock.emulator.control_plane import JobSpec
from drydock.trainer import TorchRuntime, thread_runtime
from drydock.trainer._merge import shard

SEQS = [[5, 6, 7, 8], [40, 41, 42], [5, 6, 9, 10, 11], [40, 43, 44], [70, 71, 72]]
CONTRASTIVE = {"output": "contrastive_loss", "num_queries": 2, "temperature": 0.1,
               "num_extra_negatives": 1, "pooling": "mean"}


def _datums() -> list[dict]:
    return [{"model_input": {"chunks": [{"type": "encoded_text", "tokens": s}]},
             "loss_fn_inputs": {}} for s in SEQS]


def _run(emu: Emulator, job_id: str) -> tuple[list[float], list[list[float]]]:
    w = Wire(emu, job_id)
    m = w.connect()
    seq = iter(range(1, 100))

    def call(route: str, body: dict) -> dict:
        return w.result(w.ok(route, {**body, "model_id": m, "seq_id": next(seq)})["request_id"])

    losses = []
    for _ in range(2):
        out = call("forward_backward", {"forward_backward_input": {
            "data": _datums(), "loss_fn": "cross_entropy", "loss_fn_config": CONTRASTIVE}})
        assert "error" not in out, out
        losses.append(out["metrics"]["loss"])
        call("optim_step", {"adam_params": {"learning_rate": 0.05}})
    rows = call("forward", {"forward_input": {"data": _datums(), "loss_fn": "cross_entropy",
                                              "loss_fn_config": {"output": "cos_similarity_matrix"}}})
    return losses, [o["embedding"]["data"] for o in rows["loss_fn_outputs"]]


def test_batch_coupled_outputs_are_not_sharded():
    args = {"data": list(range(5)), "loss_fn_config": CONTRASTIVE}
    assert [len(a["data"]) for a in shard(args, 2)] == [5, 0]
    args["loss_fn_config"] = {"output": "embedding"}
    assert [len(a["data"]) for a in shard(args, 2)] == [3, 2]  # per datum: split as usual


def test_two_node_contrastive_and_cosine_matrix_match_one_node():
    one = Emulator(runtime=thread_runtime(torch_threads=1))
    with one:
        one.control_plane.create_job("drydock", "single", JobSpec(base_model=MOE),
                                     dialect="fireworks")
        one.advance(60)
        want_losses, want_rows = _run(one, "single")
    two = Emulator(runtime=TorchRuntime("process", prestart=False, torch_threads=1))
    with two:
        job = two.control_plane.create_job("drydock", "multi", JobSpec(
            base_model=MOE, training_shape=TWO_NODE_SHAPE), dialect="fireworks")
        assert job.node_count == 2
        two.advance(60)
        losses, rows = _run(two, "multi")
    assert want_losses[1] < want_losses[0]
    assert losses == pytest.approx(want_losses, rel=1e-5)
    assert [len(r) for r in rows] == [5] * 5  # rows of the whole batch's matrix
    assert rows == [pytest.approx(r, abs=1e-5) for r in want_rows]
