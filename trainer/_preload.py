"""Import this module to pay torch's one-time costs up front.

A fresh process spends seconds before its first training step: `torch.optim.AdamW` imports
`torch._dynamo` on construction, and the first forward/backward/step/save initialise lazily.
A forkserver that preloads this module (`ctx.set_forkserver_preload(["drydock.trainer._preload"])`)
pays them once; every trainer forked from it starts in tens of milliseconds. The warm-up runs
with one intra-op thread: an OpenMP pool created before a fork deadlocks the child's first
parallel op (seen with layer_norm), so the server must fork with no pool started.
"""

from __future__ import annotations

import tempfile

import torch

from drydock.emulator.shapes import LocalModelConfig

from ._examples import make_example
from .engine import TrainerEngine

__all__ = ["warm_up"]


def warm_up() -> None:
    """One forward_backward, optim_step, save_state and load_state on a tiny model."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _steps()
    finally:
        torch.set_num_threads(threads)  # takes effect in the children; no pool is started here


def _steps() -> None:
    cfg = LocalModelConfig(vocab_size=8, d_model=4, n_layers=1, n_heads=1, d_ff=8, max_seq_len=4)
    with tempfile.TemporaryDirectory() as tmp:
        eng = TrainerEngine(cfg, checkpoint_dir=tmp, device="cpu", lora_rank=1)
        eng.forward_backward([make_example([1, 2, 3])], "cross_entropy")
        eng.optim_step({"learning_rate": 1e-3})
        eng.save_state("warm")
        eng.load_state("warm", optimizer=True)


warm_up()
