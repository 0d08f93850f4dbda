"""A small pre-norm, decoder-only transformer with optional LoRA adapters.

Built from `LocalModelConfig` with a seeded init (no downloads). The output head is tied to the
token embedding. With `lora_rank > 0` every attention and MLP projection gets a LoRA adapter
(`W x + (alpha / rank) * B A x`, B initialised to zero so the adapted model starts equal to the
base) and only the adapters are trainable.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from drydock.emulator.shapes import LocalModelConfig

__all__ = ["LoRALinear", "TinyDecoder", "merged_state_dict"]

_INIT_STD = 0.02


class LoRALinear(nn.Module):
    """`nn.Linear` (no bias) plus an optional low-rank adapter."""

    def __init__(self, d_in: int, d_out: int, rank: int = 0, alpha: float = 32.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(d_out, d_in))
        self.rank = rank
        self.scale = alpha / rank if rank > 0 else 0.0
        if rank > 0:
            self.lora_A = nn.Parameter(torch.empty(rank, d_in))
            self.lora_B = nn.Parameter(torch.zeros(d_out, rank))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.linear(x, self.weight)
        if self.rank > 0:
            out = out + F.linear(F.linear(x, self.lora_A), self.lora_B) * self.scale
        return out

    def merged_weight(self) -> torch.Tensor:
        if self.rank == 0:
            return self.weight.detach().clone()
        return (self.weight + self.scale * (self.lora_B @ self.lora_A)).detach()


class _Block(nn.Module):
    def __init__(self, cfg: LocalModelConfig, rank: int, alpha: float) -> None:
        super().__init__()
        self.n_heads = cfg.n_heads
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.qkv = LoRALinear(cfg.d_model, 3 * cfg.d_model, rank, alpha)
        self.proj = LoRALinear(cfg.d_model, cfg.d_model, rank, alpha)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.up = LoRALinear(cfg.d_model, cfg.d_ff, rank, alpha)
        self.down = LoRALinear(cfg.d_ff, cfg.d_model, rank, alpha)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        shape = (b, t, self.n_heads, d // self.n_heads)
        q, k, v = (z.view(shape).transpose(1, 2) for z in (q, k, v))
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(att.transpose(1, 2).reshape(b, t, d))
        return x + self.down(F.gelu(self.up(self.ln2(x))))


class TinyDecoder(nn.Module):
    """Token + learned position embeddings, `n_layers` pre-norm blocks, final norm, tied head."""

    def __init__(
        self, cfg: LocalModelConfig, *, lora_rank: int = 0, lora_alpha: float = 32.0, seed: int = 0
    ) -> None:
        super().__init__()
        if cfg.d_model % cfg.n_heads:
            raise ValueError(f"d_model {cfg.d_model} is not divisible by n_heads {cfg.n_heads}")
        self.cfg = cfg
        self.lora_rank = lora_rank
        self.lora_alpha = lora_alpha
        self.tok = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos = nn.Embedding(cfg.max_seq_len, cfg.d_model)
        self.blocks = nn.ModuleList(_Block(cfg, lora_rank, lora_alpha) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self._init(seed)
        if lora_rank > 0:
            for name, p in self.named_parameters():
                p.requires_grad_("lora_" in name)

    @torch.no_grad()
    def _init(self, seed: int) -> None:
        # Our own generator: the init depends on `seed` only, never on global RNG state.
        gen = torch.Generator().manual_seed(seed)
        for name, p in self.named_parameters():
            if name.endswith("lora_B"):
                p.zero_()
            elif name.endswith("lora_A"):
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(p.shape[1]))
            elif ".ln" in name or name.startswith("ln_"):
                p.fill_(1.0 if name.endswith("weight") else 0.0)
            else:
                p.copy_(torch.randn(p.shape, generator=gen) * _INIT_STD)

    def hidden(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, T) int64 -> last-layer hidden states (B, T, d_model), normalised."""
        pos = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.tok(tokens) + self.pos(pos)
        for blk in self.blocks:
            x = blk(x)
        return self.ln_f(x)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, T) int64 -> logits (B, T, vocab)."""
        return F.linear(self.hidden(tokens), self.tok.weight)


def merged_state_dict(model: TinyDecoder) -> dict[str, torch.Tensor]:
    """Base-model weights with every LoRA adapter folded in (what a merged sampler save holds)."""
    out: dict[str, torch.Tensor] = {}
    lora = {n: m for n, m in model.named_modules() if isinstance(m, LoRALinear)}
    for key, t in model.state_dict().items():
        if "lora_" in key:
            continue
        mod = key.rsplit(".", 1)[0]
        out[key] = lora[mod].merged_weight() if mod in lora else t.detach().clone()
    return out
