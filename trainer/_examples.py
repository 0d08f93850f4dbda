"""Neutral `Example`s (see `drydock.emulator.trainer_port`) -> validated torch tensors, and back."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from drydock.emulator.trainer_port import Array, Example

from .errors import TrainerUserError

__all__ = ["ParsedExample", "check_examples", "make_example", "to_array"]

_DTYPES = {"int64": torch.int64, "float32": torch.float32}


@dataclass
class ParsedExample:
    tokens: torch.Tensor  # (T,) int64, the model input
    inputs: dict[str, torch.Tensor]  # loss inputs, each with target_tokens' shape


def _tensor(a: Array, what: str) -> torch.Tensor:
    if not isinstance(a, Array) or a.dtype not in _DTYPES:
        raise TrainerUserError(f"{what}: expected an int64 or float32 Array")
    try:
        return torch.tensor(a.data, dtype=_DTYPES[a.dtype]).reshape(a.shape)
    except (TypeError, ValueError, RuntimeError) as e:
        raise TrainerUserError(f"{what}: {e}") from None


def check_examples(
    data: object, vocab_size: int, max_seq_len: int, required: tuple[str, ...]
) -> list[ParsedExample]:
    """Check every example against the model before any compute (a bad batch leaves the engine
    untouched): sequence length, token ids in [0, vocab_size), the loss's inputs present."""
    if not isinstance(data, list) or not data or not all(isinstance(d, Example) for d in data):
        raise TrainerUserError("data must be a non-empty list of examples")
    out = []
    for i, d in enumerate(data):
        n = len(d.tokens)
        if n == 0:
            raise TrainerUserError(f"data[{i}]: the example has no tokens")
        if n > max_seq_len:
            raise TrainerUserError(
                f"data[{i}]: sequence length {n} exceeds max_seq_len {max_seq_len}"
            )
        missing = [k for k in required if k not in d.inputs]
        if missing:
            raise TrainerUserError(f"data[{i}].loss_fn_inputs: missing {missing} for this loss")
        inputs = {k: _tensor(a, f"data[{i}].loss_fn_inputs.{k}") for k, a in d.inputs.items()}
        target = inputs["target_tokens"]
        if target.dim() not in (1, 2) or target.shape[0] != n:
            raise TrainerUserError(
                f"data[{i}]: target_tokens shape {list(target.shape)} must be [{n}] or [{n}, K] "
                f"(one row per input position)"
            )
        if target.numel() and (int(target.min()) < 0 or int(target.max()) >= vocab_size):
            raise TrainerUserError(f"data[{i}]: target token ids must be in [0, {vocab_size})")
        for k, t in inputs.items():
            if t.shape != target.shape:
                raise TrainerUserError(
                    f"data[{i}].loss_fn_inputs.{k}: shape {list(t.shape)} "
                    f"differs from target_tokens {list(target.shape)}"
                )
        if min(d.tokens) < 0 or max(d.tokens) >= vocab_size:
            raise TrainerUserError(f"data[{i}]: input token ids must be in [0, {vocab_size})")
        out.append(ParsedExample(torch.tensor(d.tokens, dtype=torch.int64), inputs))
    return out


def to_array(t: torch.Tensor) -> Array:
    """Tensor -> dense float32 Array; non-finite values become finite."""
    t = torch.nan_to_num(t.detach().float().cpu())
    return Array(t.reshape(-1).tolist(), tuple(t.shape), "float32")


def make_example(
    tokens: list[int],
    *,
    weights: list[float] | None = None,
    advantages: list[float] | None = None,
    logprobs: list[float] | None = None,
) -> Example:
    """An example for next-token training on `tokens`: input `tokens[:-1]`, targets
    `tokens[1:]`; the optional per-token lists must have `len(tokens) - 1` entries."""
    n = len(tokens) - 1
    inputs = {"target_tokens": Array(list(tokens[1:]), (n,), "int64")}
    for key, values in (("weights", weights), ("advantages", advantages), ("logprobs", logprobs)):
        if values is not None:
            inputs[key] = Array([float(v) for v in values], (n,), "float32")
    return Example(list(tokens[:-1]), inputs)
