"""Embedding training with the real fireworks-ai 1.2.28 client: pooled embedding outputs (mean
and last) and the cosine-similarity matrix behind `forward_backward_custom`, the server-side
contrastive (InfoNCE) loss with and without extra negatives, and bad loss configs refused."""

from __future__ import annotations

import pytest

fw = pytest.importorskip("fireworks.training.sdk")
from fireworks.training.sdk.client import _pool_embedding_tensor  # noqa: E402
from test_training_client import ADAM, Session  # noqa: E402 - same folder (pytest rootdir)

from drydock.emulator import Emulator  # noqa: E402
from drydock.trainer import thread_runtime  # noqa: E402

# Two query/document pairs and two unrelated (hard negative) texts.
QUERIES = [[5, 6, 7, 8], [40, 41, 42]]
DOCS = [[5, 6, 9, 10, 11], [40, 43, 44]]
EXTRA = [[70, 71, 72, 73], [90, 91]]
D_MODEL = 32  # the local model behind qwen3-0p6b (LocalModelConfig.d_model)


def _datums(seqs: list[list[int]]) -> list:
    return [fw.Datum(model_input=fw.ModelInput.from_ints(s), loss_fn_inputs={}) for s in seqs]


@pytest.fixture(scope="module")
def served():
    emu = Emulator(seed=5, runtime=thread_runtime(torch_threads=1))
    with emu, emu.serve() as server:
        yield emu, server


@pytest.fixture
def session(served, request):
    """A fresh trainer job per test: every loss starts from the same untrained model."""
    name = "emb-" + "".join(c for c in request.node.name.lower() if c.isalnum())[-40:]
    s = Session(*served, name)
    try:
        yield s
    finally:
        s.close()


def _info_nce(data, embeddings):
    import torch
    import torch.nn.functional as F

    z = F.normalize(torch.stack(embeddings), dim=-1)
    b = len(QUERIES)
    logits = z[:b] @ z[b:].T / 0.1
    loss = F.cross_entropy(logits, torch.arange(b))
    return loss, {"client_loss": float(loss.detach())}


def _cos_loss(data, rows):
    import torch
    import torch.nn.functional as F

    s = torch.stack(rows)  # [B, B] cosine similarities
    b = len(QUERIES)
    loss = F.cross_entropy(s[:b, b:] / 0.1, torch.arange(b))
    return loss, {"client_loss": float(loss.detach())}


@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_embedding_output_trains_with_a_client_loss(session, pooling):
    tc = session.tc
    data = _datums(QUERIES + DOCS)
    out = tc._forward_embedding(data, pooling).result(timeout=60)
    rows = [o["embedding"] for o in out.loss_fn_outputs]
    assert all(len(r.shape) == 1 and r.shape == rows[0].shape for r in rows), [r.shape for r in rows]  # pooled on the server, as the SDK expects
    import torch

    e = torch.tensor(rows[0].data).reshape(rows[0].shape)
    assert torch.equal(_pool_embedding_tensor(e, data[0], pooling), e)
    losses = []
    for _ in range(6):
        fut = tc.forward_backward_custom(data, _info_nce, output="embedding", pooling=pooling)
        losses.append(fut.result(timeout=60).metrics["client_loss"])
        tc.optim_step(ADAM).result(timeout=60)
    assert losses[-1] < losses[0]


def test_mean_and_last_pooling_differ(session):
    data = _datums(QUERIES)
    mean = session.tc._forward_embedding(data, "mean").result(timeout=60).loss_fn_outputs
    last = session.tc._forward_embedding(data, "last").result(timeout=60).loss_fn_outputs
    assert mean[0]["embedding"].data != last[0]["embedding"].data


def test_cosine_similarity_matrix_trains_with_a_client_loss(session):
    tc = session.tc
    data = _datums(QUERIES + DOCS)
    out = tc._forward_embedding(data, "last", output="cos_similarity_matrix").result(timeout=60)
    rows = [o["embedding"].data for o in out.loss_fn_outputs]
    assert [len(r) for r in rows] == [4] * 4
    assert all(abs(rows[i][i] - 1.0) < 1e-4 for i in range(4))  # unit vectors
    assert all(abs(rows[i][j] - rows[j][i]) < 1e-5 for i in range(4) for j in range(4))
    losses = []
    for _ in range(6):
        fut = tc.forward_backward_custom(data, _cos_loss, output="cos_similarity_matrix",
                                         pooling="last")
        losses.append(fut.result(timeout=60).metrics["client_loss"])
        tc.optim_step(ADAM).result(timeout=60)
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("extra", [0, 2])
def test_server_side_contrastive_loss_falls(session, extra):
    tc = session.tc
    data = _datums(QUERIES + DOCS + EXTRA[:extra])
    losses = []
    for _ in range(6):
        out = tc.forward_backward_contrastive(data, num_queries=2, temperature=0.05,
                                              pooling="mean", num_extra_negatives=extra)
        losses.append(out.result(timeout=60).metrics["loss"])
        tc.optim_step(ADAM).result(timeout=60)
    assert losses[-1] < losses[0]


def _grads(seqs: list[list[int]], width: int) -> list:
    g = fw.TensorData(data=[0.1] * width, dtype="float32", shape=[width])
    return [fw.Datum(model_input=fw.ModelInput.from_ints(s), loss_fn_inputs={"embedding_grads": g})
            for s in seqs]


_CONTRASTIVE = {"output": "contrastive_loss", "num_queries": 2, "temperature": 0.1}
_SFT = [fw.Datum(model_input=fw.ModelInput.from_ints([1, 2, 3]),
                 loss_fn_inputs={"target_tokens": [2, 3, 4]})]
# (what is wrong, the call on (training client, 4 embedding datums), what the message says)
BAD_CONFIGS = [
    ("unknown loss_fn", lambda tc, d: tc.forward_backward(_SFT, "nope"), "loss_fn 'nope' is unknown"),
    ("unsupported loss_fn", lambda tc, d: tc.forward_backward(_SFT, "dapo"),
     "'dapo' is not supported"),
    ("extra key for a loss", lambda tc, d: tc.forward_backward(_SFT, "cross_entropy", {"beta": 1.0}),
     r"keys \['beta'\] are not supported for 'cross_entropy'"),
    ("wrong type for a loss", lambda tc, d: tc.forward_backward(
        _SFT, "ppo", {"clip_low_threshold": "low"}), "clip_low_threshold must be a finite number"),
    ("a target_logprob_support drydock lacks", lambda tc, d: tc.forward_backward(
        _SFT, "cross_entropy", {"target_logprob_support": "candidates"}),
     "'candidates' is not supported by drydock's trainer"),
    ("temperature 0", lambda tc, d: tc.forward_backward_contrastive(d, num_queries=2, temperature=0.0),
     "temperature must be a number > 0, got 0.0"),
    ("temperature < 0", lambda tc, d: tc.forward_backward_contrastive(
        d, num_queries=2, temperature=-0.5), "temperature must be a number > 0"),
    ("temperature not a number", lambda tc, d: tc.forward_backward(
        d, "cross_entropy", {**_CONTRASTIVE, "temperature": "warm"}), "temperature must be a number"),
    ("num_queries not dividing the batch", lambda tc, d: tc.forward_backward(
        d, "cross_entropy", {**_CONTRASTIVE, "num_queries": 3}),
     r"2\*3 \+ 0 = 6; got len\(data\)=4"),
    ("num_queries 0", lambda tc, d: tc.forward_backward(
        d, "cross_entropy", {**_CONTRASTIVE, "num_queries": 0}), "num_queries must be an integer >= 1"),
    ("num_queries a string", lambda tc, d: tc.forward_backward(
        d, "cross_entropy", {**_CONTRASTIVE, "num_queries": "2"}), "num_queries must be an integer"),
    ("num_extra_negatives < 0", lambda tc, d: tc.forward_backward(
        d, "cross_entropy", {**_CONTRASTIVE, "num_extra_negatives": -1}),
     "num_extra_negatives must be an integer >= 0"),
    ("extra contrastive key", lambda tc, d: tc.forward_backward(
        d, "cross_entropy", {**_CONTRASTIVE, "margin": 0.2}),
     r"keys \['margin'\] are not supported for output 'contrastive_loss'"),
    ("pooling not mean/last", lambda tc, d: tc.forward_backward_contrastive(
        d, num_queries=2, temperature=0.1, pooling="max"), "Unsupported pooling='max'"),
    ("pooling not mean/last (forward)", lambda tc, d: tc._forward_embedding(d, "cls"),
     "Unsupported pooling='cls'"),
    ("output unknown", lambda tc, d: tc.forward(d, "cross_entropy", {"output": "logits"}),
     "output must be one of"),
    ("output projection without a head", lambda tc, d: tc.forward_projection(d),
     "projection_head_dim"),
    ("output with another loss", lambda tc, d: tc.forward(d, "ppo", {"output": "embedding"}),
     "only supported with loss_fn 'cross_entropy'"),
    ("extra embedding key", lambda tc, d: tc.forward(
        d, "cross_entropy", {"output": "embedding", "temperature": 0.1}),
     r"keys \['temperature'\] are not supported for output 'embedding'"),
    ("contrastive_loss on a forward", lambda tc, d: tc.forward(d, "cross_entropy", _CONTRASTIVE),
     "runs a backward"),
    ("backward without embedding_grads", lambda tc, d: tc._forward_backward_embedding(d, "mean"),
     "missing \\['embedding_grads'\\]"),
    ("embedding_grads of the wrong width", lambda tc, d: tc.forward_backward(
        _grads(QUERIES + DOCS, D_MODEL - 1), "cross_entropy", {"output": "embedding"}),
     f"expected {D_MODEL} float32 values, got {D_MODEL - 1}"),
    ("cosine-matrix grads of the wrong width", lambda tc, d: tc.forward_backward(
        _grads(QUERIES + DOCS, D_MODEL), "cross_entropy", {"output": "cos_similarity_matrix"}),
     f"expected 4 float32 values, got {D_MODEL}"),
]


def test_bad_loss_configs_are_user_errors_of_the_future(session):
    """Each bad config fails its future as the service's trainer does: `{"error", "category":
    "user"}`, which the real client raises at once as RequestFailedError (category User, a user
    error by the SDK's own telemetry rule) - not a 400 it retries, nor a 500 it retries forever."""
    from fireworks.training.sdk._core.lib.telemetry import is_user_error
    from fireworks.training.sdk.types import RequestErrorCategory

    tc = session.tc
    data = _datums(QUERIES + DOCS)
    wrong = []
    for what, call, match in BAD_CONFIGS:
        with pytest.raises(fw.RequestFailedError, match=match) as info:
            call(tc, data).result(timeout=60)
        e = info.value
        if e.category is not RequestErrorCategory.User or not is_user_error(e):
            wrong.append(f"{what}: category {e.category!r}")
        # the error body's source is the trainer (what capacity/retry helpers read)
        assert e._fireworks_training_error_source.category == "user", what  # type: ignore[attr-defined]
    assert not wrong, wrong
    # nothing was applied: the trainer still trains from the untouched model
    out = tc.forward_backward_contrastive(data, num_queries=2, temperature=0.05)
    assert out.result(timeout=60).metrics["loss"] > 0


def test_malformed_requests_are_400s_the_sdk_does_not_retry(session, served):
    """What the SDK's types never let through (a request the service's schema refuses) is an
    HTTP 400 on the submit, with the gRPC-style status body the SDK parses; 400 is not among the
    statuses its submit retries."""
    import httpx
    from fireworks.training.sdk.errors import RETRYABLE_STATUS_CODES, parse_training_api_error

    emu, _ = served
    url = session.endpoint.base_url + "/api/v1/forward_backward"
    ok = {"data": [], "loss_fn": "cross_entropy"}
    for seq, (inp, message) in enumerate([
        ({**ok, "loss_fn": 3}, "forward_backward_input.loss_fn must be a string"),
        ({**ok, "loss_fn_config": [1]}, "forward_backward_input.loss_fn_config must be an object"),
        (None, "'forward_backward_input' is required and must be an object"),
    ]):
        body = {"model_id": session.tc.model_id, "seq_id": 1000 + seq}
        if inp is not None:
            body["forward_backward_input"] = inp
        r = httpx.post(url, json=body, headers={"x-api-key": emu.api_key})
        assert r.status_code == 400 and r.json() == {"code": 3, "message": message, "details": []}
        err = parse_training_api_error(r)
        assert (err.status_code, str(err)) == (400, message)
    assert 400 not in RETRYABLE_STATUS_CODES


def test_the_sdk_default_loss_option_is_accepted(session):
    """`target_logprob_support: "full_vocabulary"` is the SDK's default for every loss: sent
    explicitly, it changes nothing."""
    tc = session.tc
    plain = tc.forward(_SFT, "cross_entropy").result(timeout=60).metrics["loss:sum"]
    cfg = {"target_logprob_support": "full_vocabulary"}
    assert tc.forward_backward(_SFT, "cross_entropy", cfg).result(timeout=60).metrics[
        "loss:sum"] == plain


def test_client_side_checks_stay_client_side(session):
    """What the SDK itself refuses never reaches drydock (a ValueError before any request)."""
    tc = session.tc
    data = _datums(QUERIES + DOCS)
    with pytest.raises(ValueError, match="2\\*3 \\+ 0 = 6"):
        tc.forward_backward_contrastive(data, num_queries=3, temperature=0.1)
    with pytest.raises(ValueError, match="Unsupported pooling"):
        tc.forward_backward_custom(data, _info_nce, output="embedding", pooling="max")


@pytest.mark.parametrize("mode", ["embedding", "cos_similarity_matrix"])
def test_the_workloads_client_loss_is_the_trainers_contrastive_loss(session, mode):
    """The `embedding-contrastive` workload's client-side InfoNCE (modes embedding and
    cos_similarity_matrix, through forward_backward_custom) scores the same model as the
    trainer's contrastive_loss does: same value, before any optimizer step."""
    from drydock.scenarios.workloads_capabilities import ContrastiveParams, _client_info_nce

    tc = session.tc
    data = _datums(QUERIES + DOCS + EXTRA)
    p = ContrastiveParams(mode=mode, pooling="last", num_queries=2, num_extra_negatives=2,
                          temperature=0.05)
    server = tc.forward_backward_contrastive(data, num_queries=2, temperature=0.05,
                                             pooling="last", num_extra_negatives=2)
    server_loss = server.result(timeout=60).metrics["loss"]
    out = tc.forward_backward_custom(data, _client_info_nce(p), output=mode, pooling="last")
    client_loss = out.result(timeout=60).metrics["loss"]
    assert client_loss == pytest.approx(server_loss, rel=1e-4)
    p_mean = p.model_copy(update={"pooling": "mean"})
    other = tc.forward_backward_custom(data, _client_info_nce(p_mean), output=mode, pooling="mean")
    assert other.result(timeout=60).metrics["loss"] != pytest.approx(server_loss, rel=1e-4)
