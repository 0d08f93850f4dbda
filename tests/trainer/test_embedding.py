"""Embedding outputs on the engine: pooling equals the SDK's `_pool_embedding_tensor` over the
unpooled hidden states, gradients flow from `embedding_grads`, bad configs are user errors."""

from __future__ import annotations

import pytest
import torch

from drydock.emulator.shapes import LocalModelConfig
from drydock.emulator.trainer_port import Array, Example
from drydock.trainer import TrainerEngine, TrainerUserError

CFG = LocalModelConfig(vocab_size=40, d_model=16, n_layers=2, n_heads=2, d_ff=32, max_seq_len=16)
SEQS = [[1, 2, 3, 4], [5, 6, 7], [8, 9, 10, 11, 12], [13, 14]]


@pytest.fixture
def eng(tmp_path):
    return TrainerEngine(CFG, checkpoint_dir=tmp_path, device="cpu")


@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_pooling_matches_the_sdk(eng, pooling):
    fw_client = pytest.importorskip("fireworks.training.sdk.client")
    import fireworks.training.sdk as fw

    data = [Example(s, {}) for s in SEQS]
    out = eng.forward(data, "cross_entropy", {"output": "embedding", "pooling": pooling})
    for s, o in zip(SEQS, out["outputs"], strict=True):
        with torch.no_grad():  # each datum alone: padding in the batch must not matter
            hidden = eng.model.hidden(torch.tensor([s]))[0]
        datum = fw.Datum(model_input=fw.ModelInput.from_ints(s), loss_fn_inputs={})
        want = fw_client._pool_embedding_tensor(hidden, datum, pooling)
        got = torch.tensor(o["embedding"].data)
        assert torch.allclose(got, want, atol=1e-6)


def test_embedding_grads_flow_and_are_required(eng):
    grads = Array([1.0] * 16, (16,), "float32")
    data = [Example(s, {"embedding_grads": grads}) for s in SEQS]
    cfg = {"output": "embedding", "pooling": "last"}
    eng.forward_backward(data, "cross_entropy", cfg)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in eng.params)
    with pytest.raises(TrainerUserError, match="embedding_grads"):
        eng.forward_backward([Example(s, {}) for s in SEQS], "cross_entropy", cfg)
    with pytest.raises(TrainerUserError, match="expected 4 float32 values"):
        eng.forward_backward(data, "cross_entropy", {"output": "cos_similarity_matrix"})


@pytest.mark.parametrize("cfg, match", [
    ({"output": "contrastive_loss", "num_queries": 2, "temperature": 0.1, "extra": 1},
     r"keys \['extra'\] are not supported"),
    ({"output": "contrastive_loss", "num_queries": 3, "temperature": 0.1},
     r"2\*3 \+ 0 = 6; got len\(data\)=4"),
    ({"output": "contrastive_loss", "num_queries": 2, "temperature": -1}, "temperature"),
    ({"output": "contrastive_loss", "num_queries": 0, "temperature": 1}, "num_queries"),
    ({"output": "embedding", "pooling": "max"}, "Unsupported pooling='max'"),
    ({"output": "projection"}, "projection_head_dim"),
])
def test_bad_configs_are_user_errors(eng, cfg, match):
    with pytest.raises(TrainerUserError, match=match):
        eng.forward_backward([Example(s, {}) for s in SEQS], "cross_entropy", cfg)
    assert all(p.grad is None for p in eng.params) and eng.micro_batches == 0
