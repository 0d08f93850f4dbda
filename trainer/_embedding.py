"""Embedding outputs of a `cross_entropy` forward (`loss_fn_config.output`), as the Fireworks
training SDK 1.2.28 asks for them:

- `embedding`: each datum's last-layer hidden states pooled (`pooling` "mean" over its tokens,
  or "last" token) -> `{"embedding": [D]}`. A forward_backward takes `embedding_grads` ([D], the
  client's dLoss/dEmbedding) per datum and back-propagates them.
- `cos_similarity_matrix`: the pooled embeddings L2-normalised, `S = Z @ Z.T` over the request's
  batch; datum i gets row i (`{"embedding": [B]}`); a forward_backward takes rows of dL/dS.
- `contrastive_loss`: server-side bidirectional InfoNCE over `[Q_0..Q_B-1, D_0..D_B-1,
  EN_0..EN_K-1]` (`num_queries` B, `temperature`, `num_extra_negatives` K): queries against
  positives plus the extra negatives, positives against queries; metrics carry `loss`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from drydock.emulator.trainer_port import Example

from .errors import TrainerUserError

__all__ = ["EmbeddingConfig", "OUTPUTS", "POOLINGS", "check_embedding_config", "embedding_loss"]

OUTPUTS = ("embedding", "cos_similarity_matrix", "contrastive_loss")
POOLINGS = ("mean", "last")
_KEYS = {
    "embedding": ("output", "pooling"),
    "cos_similarity_matrix": ("output", "pooling"),
    "contrastive_loss": ("output", "pooling", "num_queries", "temperature", "num_extra_negatives"),
}
GRADS = "embedding_grads"


@dataclass(frozen=True)
class EmbeddingConfig:
    output: str
    pooling: str
    num_queries: int = 0
    temperature: float = 1.0
    num_extra_negatives: int = 0


def _int(config: dict, key: str, minimum: int) -> int:
    v = config.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise TrainerUserError(f"loss_fn_config.{key} must be an integer >= {minimum}, got {v!r}")
    return v


def check_embedding_config(
    loss_fn: str, config: dict, n_datums: int, *, backward: bool = True
) -> EmbeddingConfig:
    """Validate an embedding `loss_fn_config` (one with an `output` key) for a batch of
    `n_datums` (`backward`: a forward_backward, else a forward)."""
    output = config.get("output")
    if loss_fn != "cross_entropy":
        raise TrainerUserError(
            f"loss_fn_config.output is only supported with loss_fn 'cross_entropy', got {loss_fn!r}"
        )
    if output == "projection":
        raise TrainerUserError(
            "loss_fn_config.output 'projection' needs a projection head: this model was "
            "created without projection_head_dim"
        )
    if output not in OUTPUTS:
        raise TrainerUserError(
            f"loss_fn_config.output must be one of {list(OUTPUTS)}, got {output!r}"
        )
    bad = sorted(set(config) - set(_KEYS[output]))
    if bad:
        raise TrainerUserError(
            f"loss_fn_config keys {bad} are not supported for output {output!r}; "
            f"accepted: {list(_KEYS[output])}"
        )
    pooling = config.get("pooling", "last" if output == "contrastive_loss" else "mean")
    if pooling not in POOLINGS:
        raise TrainerUserError(f"Unsupported pooling={pooling!r}; expected 'mean' or 'last'")
    if output != "contrastive_loss":
        return EmbeddingConfig(output, pooling)
    if not backward:
        # The SDK sends it only by forward_backward_contrastive; a forward of it would answer a
        # bare `loss` metric, which the client's merge of forward chunks cannot read.
        raise TrainerUserError(
            "loss_fn_config.output 'contrastive_loss' runs a backward: send it with "
            "forward_backward (forward_backward_contrastive), not forward"
        )
    b = _int(config, "num_queries", 1)
    k = _int(config, "num_extra_negatives", 0) if "num_extra_negatives" in config else 0
    t = config.get("temperature")
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t <= 0:
        raise TrainerUserError(f"loss_fn_config.temperature must be a number > 0, got {t!r}")
    if n_datums != 2 * b + k:
        raise TrainerUserError(
            f"contrastive_loss expects len(data) == 2*num_queries + num_extra_negatives = "
            f"2*{b} + {k} = {2 * b + k}; got len(data)={n_datums}"
        )
    return EmbeddingConfig(output, pooling, b, float(t), k)


def check_embedding_examples(data: object, vocab_size: int, max_seq_len: int) -> list[Example]:
    """Token checks only: embedding modes read no per-token loss inputs."""
    if not isinstance(data, list) or not data or not all(isinstance(d, Example) for d in data):
        raise TrainerUserError("data must be a non-empty list of examples")
    for i, d in enumerate(data):
        n = len(d.tokens)
        if n == 0:
            raise TrainerUserError(f"data[{i}]: the example has no tokens")
        if n > max_seq_len:
            raise TrainerUserError(
                f"data[{i}]: sequence length {n} exceeds max_seq_len {max_seq_len}"
            )
        if min(d.tokens) < 0 or max(d.tokens) >= vocab_size:
            raise TrainerUserError(f"data[{i}]: input token ids must be in [0, {vocab_size})")
    return data


def _grads(data: list[Example], width: int) -> torch.Tensor:
    rows = []
    for i, d in enumerate(data):
        g = d.inputs.get(GRADS)
        if g is None:
            raise TrainerUserError(
                f"data[{i}].loss_fn_inputs: missing ['{GRADS}'] for a backward through "
                "embedding outputs"
            )
        if g.dtype != "float32" or len(g.data) != width:
            raise TrainerUserError(
                f"data[{i}].loss_fn_inputs.{GRADS}: expected {width} float32 values, "
                f"got {len(g.data)} ({g.dtype})"
            )
        rows.append(torch.tensor(g.data, dtype=torch.float32))
    return torch.stack(rows)


def pool(hidden: torch.Tensor, lengths: torch.Tensor, pooling: str) -> torch.Tensor:
    """(B, T, D) right-padded hidden states -> (B, D), as the SDK's `_pool_embedding_tensor`."""
    if pooling == "last":
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), lengths - 1]
    mask = torch.arange(hidden.shape[1], device=hidden.device)[None, :] < lengths[:, None]
    return (hidden * mask[..., None]).sum(1) / lengths[:, None].to(hidden.dtype)


def embedding_loss(
    cfg: EmbeddingConfig, pooled: torch.Tensor, data: list[Example], backward: bool
) -> tuple[torch.Tensor | None, list[torch.Tensor | None], dict[str, float]]:
    """(the scalar to back-propagate or None, each datum's output tensor, metrics)."""
    if cfg.output == "embedding":
        loss = (
            (pooled * _grads(data, pooled.shape[1]).to(pooled.device)).sum() if backward else None
        )
        return loss, list(pooled), {"loss:sum": float(loss.detach()) if loss is not None else 0.0}
    z = F.normalize(pooled, dim=-1)
    if cfg.output == "cos_similarity_matrix":
        s = z @ z.T
        loss = (s * _grads(data, s.shape[1]).to(s.device)).sum() if backward else None
        return loss, list(s), {"loss:sum": float(loss.detach()) if loss is not None else 0.0}
    b = cfg.num_queries
    q, d, extra = z[:b], z[b : 2 * b], z[2 * b :]
    labels = torch.arange(b, device=z.device)
    q2d = q @ torch.cat([d, extra]).T / cfg.temperature
    d2q = d @ q.T / cfg.temperature
    loss = (F.cross_entropy(q2d, labels) + F.cross_entropy(d2q, labels)) / 2
    acc = float((q2d.argmax(-1) == labels).float().mean())
    return loss, [None] * len(data), {"loss": float(loss.detach()), "accuracy:mean": acc}
