"""Loss functions of the trainer wire (spec §11), per token, to be summed (never averaged).

Notation: `lp` = the model's log-prob of each target token, `q` = the sampler's `logprobs` input,
`A` = `advantages`, `w` = `weights`, `r = exp(lp - q)`. Each function returns the element-wise
loss (same shape as `lp`); the engine sums it over tokens and datums.

- cross_entropy:        -w * lp                      (w = 1 when `weights` is absent)
- importance_sampling:  -r * A
- ppo:                  -min(r * A, clip(r, lo, hi) * A)       lo/hi default 0.8 / 1.2
- cispo:                -sg(clip(r, lo, hi)) * lp * A          sg = stop-gradient, same defaults
- dro:                  -(lp * A - beta/2 * (lp - q)^2)        beta default 0.05

`ratio_log_cap` (importance_sampling, ppo, cispo) clamps `lp - q` to [-cap, cap] before `exp`;
without it the log-ratio is still clamped to +-80 so `exp` never overflows float32. Per-token
`clip_low_threshold` / `clip_high_threshold` inputs override the config thresholds. Other loss
names the SDK allows (dapo, gspo, dppo, reinforce) are rejected with `TrainerUserError`. Every
loss takes the SDK's `target_logprob_support: "full_vocabulary"` (its default, what we compute);
its other values are refused.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from .errors import TrainerUserError

__all__ = ["SUPPORTED_LOSSES", "KNOWN_LOSSES", "required_inputs", "check_config", "compute_loss"]

KNOWN_LOSSES = (
    "cross_entropy",
    "importance_sampling",
    "ppo",
    "cispo",
    "dro",
    "dapo",
    "gspo",
    "dppo",
    "reinforce",
)
_OVERFLOW_CAP = 80.0
_RL_INPUTS = ("target_tokens", "logprobs", "advantages")

Inputs = dict[str, torch.Tensor]


def _log_ratio(lp: torch.Tensor, inp: Inputs, cfg: dict) -> torch.Tensor:
    cap = min(cfg.get("ratio_log_cap", _OVERFLOW_CAP), _OVERFLOW_CAP)
    return (lp - inp["logprobs"]).clamp(-cap, cap)


def _thresholds(inp: Inputs, cfg: dict) -> tuple[Any, Any]:
    lo = inp.get("clip_low_threshold", cfg.get("clip_low_threshold", 0.8))
    hi = inp.get("clip_high_threshold", cfg.get("clip_high_threshold", 1.2))
    return lo, hi


def _clip(r: torch.Tensor, lo: Any, hi: Any) -> torch.Tensor:
    lo_t = torch.as_tensor(lo, dtype=r.dtype, device=r.device)
    hi_t = torch.as_tensor(hi, dtype=r.dtype, device=r.device)
    return torch.minimum(torch.maximum(r, lo_t), hi_t)


def _cross_entropy(lp: torch.Tensor, inp: Inputs, cfg: dict) -> torch.Tensor:
    w = inp.get("weights")
    return -lp if w is None else -w * lp


def _importance_sampling(lp: torch.Tensor, inp: Inputs, cfg: dict) -> torch.Tensor:
    return -torch.exp(_log_ratio(lp, inp, cfg)) * inp["advantages"]


def _ppo(lp: torch.Tensor, inp: Inputs, cfg: dict) -> torch.Tensor:
    r = torch.exp(_log_ratio(lp, inp, cfg))
    a = inp["advantages"]
    lo, hi = _thresholds(inp, cfg)
    return -torch.minimum(r * a, _clip(r, lo, hi) * a)


def _cispo(lp: torch.Tensor, inp: Inputs, cfg: dict) -> torch.Tensor:
    r = torch.exp(_log_ratio(lp, inp, cfg)).detach()
    lo, hi = _thresholds(inp, cfg)
    return -_clip(r, lo, hi) * lp * inp["advantages"]


def _dro(lp: torch.Tensor, inp: Inputs, cfg: dict) -> torch.Tensor:
    beta = cfg.get("beta", 0.05)
    return -(lp * inp["advantages"] - 0.5 * beta * (lp - inp["logprobs"]) ** 2)


_SUPPORT = "target_logprob_support"
_CLIP_KEYS = ("clip_low_threshold", "clip_high_threshold", "ratio_log_cap")
_LOSSES: dict[str, tuple[Callable, tuple[str, ...], tuple[str, ...], str]] = {
    # name: (fn, required inputs, accepted config keys, which input marks a loss token)
    "cross_entropy": (_cross_entropy, ("target_tokens",), (), "weights"),
    "importance_sampling": (_importance_sampling, _RL_INPUTS, ("ratio_log_cap",), "advantages"),
    "ppo": (_ppo, _RL_INPUTS, _CLIP_KEYS, "advantages"),
    "cispo": (_cispo, _RL_INPUTS, _CLIP_KEYS, "advantages"),
    "dro": (_dro, _RL_INPUTS, ("beta",), "advantages"),
}
SUPPORTED_LOSSES = tuple(_LOSSES)


def _spec(loss_fn: str) -> tuple[Callable, tuple[str, ...], tuple[str, ...], str]:
    if loss_fn not in _LOSSES:
        why = "is not supported by drydock's trainer" if loss_fn in KNOWN_LOSSES else "is unknown"
        raise TrainerUserError(f"loss_fn {loss_fn!r} {why}; supported: {list(SUPPORTED_LOSSES)}")
    return _LOSSES[loss_fn]


def required_inputs(loss_fn: str) -> tuple[str, ...]:
    """The loss_fn_inputs keys `loss_fn` needs (raises TrainerUserError for an unknown loss)."""
    return _spec(loss_fn)[1]


def check_config(loss_fn: str, config: dict | None) -> dict[str, float]:
    """Validate `loss_fn_config`: known keys only, finite numbers."""
    _, _, keys, _ = _spec(loss_fn)
    config = config or {}
    if not isinstance(config, dict):
        raise TrainerUserError("loss_fn_config must be an object")
    if _SUPPORT in config:  # an SDK option of every loss; its default is what we compute
        support = config[_SUPPORT]
        if support != "full_vocabulary":
            raise TrainerUserError(
                f"loss_fn_config.{_SUPPORT} {support!r} is not supported by drydock's trainer "
                "(it computes full-vocabulary log-probs: 'full_vocabulary')"
            )
        config = {k: v for k, v in config.items() if k != _SUPPORT}
    bad = sorted(set(config) - set(keys))
    if bad:
        raise TrainerUserError(
            f"loss_fn_config keys {bad} are not supported for {loss_fn!r}; accepted: {list(keys)}"
        )
    out = {}
    for k, v in config.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise TrainerUserError(f"loss_fn_config.{k} must be a finite number, got {v!r}")
        out[k] = float(v)
    if out.get("ratio_log_cap", 1.0) <= 0:
        raise TrainerUserError("loss_fn_config.ratio_log_cap must be > 0")
    return out


def compute_loss(
    loss_fn: str, lp: torch.Tensor, inputs: Inputs, config: dict | None = None
) -> tuple[torch.Tensor, int]:
    """Element-wise loss for one datum and its number of loss tokens (non-zero weights for
    cross_entropy, non-zero advantages otherwise)."""
    fn, _, _, marker = _spec(loss_fn)
    cfg = check_config(loss_fn, config)
    inp = {k: v.to(lp.device, lp.dtype) if v.is_floating_point() else v for k, v in inputs.items()}
    loss = fn(lp, inp, cfg)
    mark = inp.get(marker)
    n_tokens = int(lp.numel()) if mark is None else int((mark != 0).sum())
    return loss, n_tokens
