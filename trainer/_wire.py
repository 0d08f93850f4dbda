"""Wire `Datum`/`TensorData` dicts (spec §6) to validated torch tensors and back."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from .errors import TrainerUserError

__all__ = ["ParsedDatum", "parse_tensor", "parse_datums", "encode_tensor", "make_datum",
           "LOSS_INPUT_DTYPES"]

_TD_KEYS = {"data", "dtype", "shape", "sparse_crow_indices", "sparse_col_indices"}
_DTYPES = {"int64": torch.int64, "float32": torch.float32}
# The client coerces plain lists by key (spec §6); the same keys are the only ones we accept.
LOSS_INPUT_DTYPES = {"target_tokens": "int64", "weights": "float32", "advantages": "float32",
                     "logprobs": "float32", "clip_low_threshold": "float32",
                     "clip_high_threshold": "float32", "loss_mask": "float32"}
# Keys the service takes as floats but accepts as integers too (a client sends a list of ints
# as int64): converted to float32, as the service converts them.
_INT_OK = {k for k, v in LOSS_INPUT_DTYPES.items() if v == "float32"}


@dataclass
class ParsedDatum:
    tokens: torch.Tensor              # (T,) int64, the model input
    inputs: dict[str, torch.Tensor]   # loss_fn_inputs, each with target_tokens' shape


def _ints(value: Any, what: str) -> list[int]:
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool)
                                              for v in value):
        raise TrainerUserError(f"{what} must be a list of integers")
    return value


def parse_tensor(td: Any, what: str, default_dtype: str | None = None) -> torch.Tensor:
    """TensorData (dense or CSR) or a plain list -> tensor. Raises TrainerUserError."""
    if isinstance(td, list):
        if default_dtype is None:
            raise TrainerUserError(f"{what}: expected a TensorData object, got a list")
        td = {"data": td, "dtype": default_dtype}
    if not isinstance(td, dict):
        raise TrainerUserError(f"{what}: expected a TensorData object, got {type(td).__name__}")
    extra = set(td) - _TD_KEYS
    if extra:
        raise TrainerUserError(f"{what}: unknown TensorData keys {sorted(extra)}")
    dtype = td.get("dtype", default_dtype)
    if dtype not in _DTYPES:
        raise TrainerUserError(f"{what}: dtype must be 'int64' or 'float32', got {dtype!r}")
    if default_dtype == "float32" and dtype == "int64" and key_accepts_ints(what):
        dtype = "int64"  # parsed as integers below, then converted to float32
    elif default_dtype is not None and dtype != default_dtype:
        raise TrainerUserError(f"{what}: dtype must be {default_dtype!r}, got {dtype!r}")
    data = td.get("data")
    if not isinstance(data, list):
        raise TrainerUserError(f"{what}: 'data' must be a list")
    if dtype == "int64":
        _ints(data, f"{what}.data")
    else:
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in data):
            raise TrainerUserError(f"{what}: 'data' must hold numbers")
        if not all(math.isfinite(v) for v in data):
            raise TrainerUserError(f"{what}: 'data' holds NaN or infinity")
    shape = td.get("shape")
    if shape is not None:
        shape = _ints(shape, f"{what}.shape")
        if any(s < 0 for s in shape):
            raise TrainerUserError(f"{what}: negative dimension in shape {shape}")
    values = torch.tensor(data, dtype=_DTYPES[dtype])
    if default_dtype == "float32" and dtype == "int64":
        values = values.to(torch.float32)
    if "sparse_crow_indices" in td or "sparse_col_indices" in td:
        return _from_csr(td, values, shape, what)
    if shape is None:
        return values
    if math.prod(shape) != len(data):
        raise TrainerUserError(f"{what}: shape {shape} does not match {len(data)} values")
    return values.reshape(shape)


def key_accepts_ints(what: str) -> bool:
    """Whether the loss input named at the end of `what` may arrive as int64."""
    return what.rsplit(".", 1)[-1] in _INT_OK


def _apply_loss_mask(inputs: dict[str, torch.Tensor]) -> None:
    """`loss_mask` (1 = train on this position, 0 = skip) folds into the per-token inputs the
    losses read: masked positions get weight 0 and advantage 0, so they add no loss and do not
    count as loss tokens."""
    mask = inputs.pop("loss_mask", None)
    if mask is None:
        return
    inputs["weights"] = inputs.get("weights", torch.ones_like(mask)) * mask
    if "advantages" in inputs:
        inputs["advantages"] = inputs["advantages"] * mask


def _from_csr(td: dict, values: torch.Tensor, shape: list[int] | None, what: str) -> torch.Tensor:
    if shape is None or len(shape) != 2:
        raise TrainerUserError(f"{what}: a sparse (CSR) tensor needs a 2-D shape")
    crow = _ints(td.get("sparse_crow_indices"), f"{what}.sparse_crow_indices")
    col = _ints(td.get("sparse_col_indices"), f"{what}.sparse_col_indices")
    rows, cols = shape
    ok = (len(crow) == rows + 1 and len(col) == len(values) and crow[0] == 0
          and crow[-1] == len(values) and all(a <= b for a, b in zip(crow, crow[1:]))
          and all(0 <= c < cols for c in col))
    if not ok:
        raise TrainerUserError(f"{what}: inconsistent CSR indices for shape {shape}")
    dense = torch.zeros(rows, cols, dtype=values.dtype)
    row_of = torch.repeat_interleave(torch.arange(rows), torch.tensor(crow).diff())
    dense[row_of, torch.tensor(col, dtype=torch.int64)] = values
    return dense


def encode_tensor(t: torch.Tensor) -> dict:
    """Tensor -> dense float32 TensorData; non-finite values become finite (never NaN on the wire)."""
    t = torch.nan_to_num(t.detach().float().cpu())
    return {"data": t.reshape(-1).tolist(), "dtype": "float32", "shape": list(t.shape)}


def _tokens(model_input: Any, i: int) -> list[int]:
    if not isinstance(model_input, dict) or not isinstance(model_input.get("chunks"), list):
        raise TrainerUserError(f"data[{i}].model_input must be an object with a 'chunks' list")
    tokens: list[int] = []
    for j, chunk in enumerate(model_input["chunks"]):
        kind = chunk.get("type", "encoded_text") if isinstance(chunk, dict) else None
        if kind != "encoded_text":
            raise TrainerUserError(
                f"data[{i}].model_input.chunks[{j}]: only 'encoded_text' chunks are supported, "
                f"got {kind!r}")
        tokens += _ints(chunk.get("tokens"), f"data[{i}].model_input.chunks[{j}].tokens")
    return tokens


def parse_datums(data: Any, vocab_size: int, max_seq_len: int,
                 required: tuple[str, ...]) -> list[ParsedDatum]:
    """Validate every datum before any compute, so a bad batch leaves the engine untouched."""
    if not isinstance(data, list) or not data:
        raise TrainerUserError("data must be a non-empty list of Datum objects")
    out = []
    for i, d in enumerate(data):
        if not isinstance(d, dict):
            raise TrainerUserError(f"data[{i}] must be a Datum object")
        toks = _tokens(d.get("model_input"), i)
        n = len(toks)
        if n == 0:
            raise TrainerUserError(f"data[{i}]: model_input has no tokens")
        if n > max_seq_len:
            raise TrainerUserError(f"data[{i}]: sequence length {n} exceeds max_seq_len {max_seq_len}")
        raw = d.get("loss_fn_inputs")
        if not isinstance(raw, dict):
            raise TrainerUserError(f"data[{i}].loss_fn_inputs must be an object")
        unknown = set(raw) - set(LOSS_INPUT_DTYPES)
        if unknown:
            raise TrainerUserError(f"data[{i}].loss_fn_inputs: unknown keys {sorted(unknown)}")
        missing = [k for k in required if k not in raw]
        if missing:
            raise TrainerUserError(f"data[{i}].loss_fn_inputs: missing {missing} for this loss")
        inputs = {k: parse_tensor(v, f"data[{i}].loss_fn_inputs.{k}", LOSS_INPUT_DTYPES[k])
                  for k, v in raw.items()}
        target = inputs["target_tokens"]
        if target.dim() not in (1, 2) or target.shape[0] != n:
            raise TrainerUserError(
                f"data[{i}]: target_tokens shape {list(target.shape)} must be [{n}] or [{n}, K] "
                f"(one row per input position)")
        if target.numel() and (int(target.min()) < 0 or int(target.max()) >= vocab_size):
            raise TrainerUserError(f"data[{i}]: target token ids must be in [0, {vocab_size})")
        for k, t in inputs.items():
            if t.shape != target.shape:
                raise TrainerUserError(f"data[{i}].loss_fn_inputs.{k}: shape {list(t.shape)} "
                                       f"differs from target_tokens {list(target.shape)}")
        _apply_loss_mask(inputs)
        if min(toks) < 0 or max(toks) >= vocab_size:
            raise TrainerUserError(f"data[{i}]: input token ids must be in [0, {vocab_size})")
        out.append(ParsedDatum(torch.tensor(toks, dtype=torch.int64), inputs))
    return out


def make_datum(tokens: list[int], *, weights: list[float] | None = None,
               advantages: list[float] | None = None,
               logprobs: list[float] | None = None) -> dict:
    """A wire Datum for next-token training on `tokens`: input `tokens[:-1]`, targets
    `tokens[1:]`; the optional per-token lists must have `len(tokens) - 1` entries."""
    n = len(tokens) - 1
    inputs: dict[str, dict] = {"target_tokens": {"data": list(tokens[1:]), "dtype": "int64",
                                                 "shape": [n]}}
    for key, values in (("weights", weights), ("advantages", advantages), ("logprobs", logprobs)):
        if values is not None:
            inputs[key] = {"data": [float(v) for v in values], "dtype": "float32", "shape": [n]}
    return {"model_input": {"chunks": [{"type": "encoded_text", "tokens": list(tokens[:-1])}]},
            "loss_fn_inputs": inputs}
