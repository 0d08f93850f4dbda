"""Baselines measured in the same run as a benchmark: what plain torch does without drydock."""

from __future__ import annotations

import time

import torch

from drydock.emulator.dialects.fireworks.tinker.datums import parse_datums
from drydock.emulator.shapes import LocalModelConfig
from drydock.emulator.trainer_port import Example
from drydock.trainer._examples import check_examples
from drydock.trainer._model import TinyDecoder

__all__ = ["bare_loop_steps_per_s", "batch_tensors"]


def batch_tensors(config: LocalModelConfig, batch: list) -> tuple[torch.Tensor, torch.Tensor,
                                                                         torch.Tensor]:
    """Wire datums or Examples -> (tokens, targets, weights) padded tensors; padding has weight 0."""
    examples = batch if batch and isinstance(batch[0], Example) else parse_datums(batch)
    datums = check_examples(examples, config.vocab_size, config.max_seq_len, ("target_tokens",))
    width = max(len(d.tokens) for d in datums)
    tokens = torch.zeros(len(datums), width, dtype=torch.int64)
    targets = torch.zeros_like(tokens)
    weights = torch.zeros(len(datums), width)
    for b, d in enumerate(datums):
        n = len(d.tokens)
        tokens[b, :n] = d.tokens
        targets[b, :n] = d.inputs["target_tokens"]
        weights[b, :n] = d.inputs.get("weights", torch.ones(n))
    return tokens, targets, weights


def bare_loop_steps_per_s(config: LocalModelConfig, batch: list[dict], steps: int, *,
                          lora_rank: int = 0, device: str | None = None, warmup: int = 2) -> float:
    """Optimizer steps per second of a bare torch loop (cross_entropy forward, backward, AdamW
    step) on the same model and data the engine gets; the batch is converted to tensors once,
    outside the timed region."""
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = TinyDecoder(config, lora_rank=lora_rank).to(dev)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4,
                            betas=(0.9, 0.95), eps=1e-12, weight_decay=0.0)
    tokens, targets, weights = (t.to(dev) for t in batch_tensors(config, batch))

    def step() -> None:
        lp = model(tokens).float().log_softmax(-1).gather(-1, targets[..., None])[..., 0]
        (-(weights * lp).sum()).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(warmup):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - t0)
