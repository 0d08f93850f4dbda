"""TrainerEngine.load_adapter: a LoRA sampler checkpoint's adapters into a LoRA engine (weights
only); a full-model engine, a full-model checkpoint or another rank are user errors."""

from __future__ import annotations

import pytest
import torch

from drydock.emulator.shapes import LocalModelConfig
from drydock.trainer import TrainerEngine, TrainerUserError, make_example

CFG = LocalModelConfig(vocab_size=40, d_model=16, n_layers=2, n_heads=2, d_ff=32, max_seq_len=16)
DATA = [make_example([1, 2, 3, 4, 5]), make_example([7, 8, 9])]


def _loss(eng: TrainerEngine) -> float:
    return eng.forward(DATA, "cross_entropy")["metrics"]["loss:sum"]


def test_adapter_round_trip_and_errors(tmp_path):
    src = TrainerEngine(CFG, checkpoint_dir=tmp_path / "src", device="cpu", lora_rank=2)
    for _ in range(3):
        src.forward_backward(DATA, "cross_entropy")
        src.optim_step({"learning_rate": 0.05})
    adapter = src.save_for_sampler("adapter", "base").path
    full = src.save_for_sampler("merged", "merged_base").path

    dst = TrainerEngine(CFG, checkpoint_dir=tmp_path / "dst", device="cpu", lora_rank=2, seed=0)
    dst.forward_backward(DATA, "cross_entropy")  # pending gradients are dropped by the load
    assert _loss(dst) != _loss(src)
    assert dst.load_adapter(adapter) == {"step": 0}
    assert _loss(dst) == _loss(src)
    assert all(p.grad is None for p in dst.params) and dst.micro_batches == 0

    with pytest.raises(TrainerUserError, match="no LoRA weights"):
        dst.load_adapter(full)
    other = TrainerEngine(CFG, checkpoint_dir=tmp_path / "o", device="cpu", lora_rank=4)
    with pytest.raises(TrainerUserError, match="LoRA rank 2, this session 4"):
        other.load_adapter(adapter)
    plain = TrainerEngine(CFG, checkpoint_dir=tmp_path / "p", device="cpu")
    with pytest.raises(TrainerUserError, match="LoRA training session"):
        plain.load_adapter(adapter)
    with pytest.raises(TrainerUserError, match="cannot read adapter"):
        dst.load_adapter(tmp_path / "nowhere")
    assert torch.isfinite(torch.tensor(_loss(dst)))
