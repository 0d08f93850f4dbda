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
D_MODEL = 64  # the catalog's local model for qwen3-0p6b


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


def test_bad_embedding_configs_fail_the_future(session):
    tc = session.tc
    data = _datums(QUERIES + DOCS)
    with pytest.raises(fw.RequestFailedError, match="temperature must be a number > 0"):
        tc.forward_backward_contrastive(data, num_queries=2, temperature=0.0).result(timeout=60)
    with pytest.raises(fw.RequestFailedError, match="projection_head_dim"):
        tc.forward_projection(data).result(timeout=60)
    with pytest.raises(fw.RequestFailedError, match="output must be one of"):
        tc.forward(data, "cross_entropy", {"output": "logits"}).result(timeout=60)
    with pytest.raises(fw.RequestFailedError, match="only supported with loss_fn 'cross_entropy'"):
        tc.forward(data, "ppo", {"output": "embedding"}).result(timeout=60)
    # a backward through embeddings needs the client's gradients
    with pytest.raises(fw.RequestFailedError, match="embedding_grads"):
        tc._forward_backward_embedding(data, "mean").result(timeout=60)
    # the trainer still trains
    out = tc.forward_backward_contrastive(data, num_queries=2, temperature=0.05)
    assert out.result(timeout=60).metrics["loss"] > 0
