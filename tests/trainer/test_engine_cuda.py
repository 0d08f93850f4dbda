"""TrainerEngine on CUDA (skipped without a GPU): bf16 autocast trains, and checkpoints move
between CUDA and CPU engines."""

from __future__ import annotations

import pytest
import torch

from drydock.emulator.shapes import LocalModelConfig
from drydock.trainer import TrainerEngine, make_example

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]

CFG = LocalModelConfig(vocab_size=64, d_model=32, n_layers=2, n_heads=2, d_ff=64, max_seq_len=32)
ADAM = {"learning_rate": 1e-2, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8, "weight_decay": 0.0,
        "grad_clip_norm": 1.0}
DATA = [make_example([1, 5, 9, 13, 17, 21, 25, 29]), make_example([2, 4, 6, 8, 10, 12])]


def test_bf16_training_on_cuda_and_checkpoint_to_cpu(tmp_path) -> None:
    eng = TrainerEngine(CFG, checkpoint_dir=tmp_path / "gpu", weight_precision="BFLOAT16")
    assert eng.device.type == "cuda" and eng.autocast_dtype == torch.bfloat16
    losses = []
    for _ in range(15):
        losses.append(eng.forward_backward(DATA, "cross_entropy")["metrics"]["loss:sum"])
        eng.optim_step(ADAM, "num_loss_tokens")
    assert losses[-1] < 0.7 * losses[0]
    saved = eng.save_state("step-15", {"i": 15})
    cpu = TrainerEngine(CFG, checkpoint_dir=tmp_path / "cpu", device="cpu",
                        cross_job_dirs=lambda job: tmp_path / "gpu")
    assert cpu.load_state("cross_job://gpu-job/step-15", optimizer=True)["step"] == 15
    for (k, a), b in zip(eng.model.state_dict().items(), cpu.model.state_dict().values(), strict=False):
        assert torch.equal(a.cpu(), b), k
    assert saved.kind == "TRAINING"
    # And back onto a fresh CUDA engine, continuing to train.
    again = TrainerEngine(CFG, checkpoint_dir=tmp_path / "gpu", weight_precision="BFLOAT16")
    assert again.restore_latest() == "step-15"
    again.forward_backward(DATA, "cross_entropy")
    assert again.optim_step(ADAM)["metrics"]["step:max"] == 16
