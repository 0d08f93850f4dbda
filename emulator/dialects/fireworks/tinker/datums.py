"""Tinker `Datum` / `TensorData` dicts (spec §6) <-> the trainer's neutral `Example` / `Array`.

Structure only (chunk types, TensorData keys and dtypes, CSR indices, shapes, finite values);
the trainer checks what depends on the model (vocabulary, sequence length, the loss's inputs).
Errors are `InvalidArgument`; the gateway reports them in the op's future, category "user".
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from ....errors import InvalidArgument
from ....trainer_port import Array, Example

__all__ = ["LOSS_INPUT_DTYPES", "make_datum", "parse_datums", "parse_tensor", "tensor_data"]

_TD_KEYS = {"data", "dtype", "shape", "sparse_crow_indices", "sparse_col_indices"}
_DTYPES = ("int64", "float32")
# The client coerces plain lists by key (spec §6); the same keys are the only ones we accept.
LOSS_INPUT_DTYPES = {
    "target_tokens": "int64",
    "weights": "float32",
    "advantages": "float32",
    "logprobs": "float32",
    "clip_low_threshold": "float32",
    "clip_high_threshold": "float32",
    "loss_mask": "float32",
}


_INT, _NUMBER = {int}, {int, float}  # exact types: bool is not a number here


def _ints(value: Any, what: str) -> list[int]:
    if type(value) is not list or not _INT.issuperset(map(type, value)):
        raise InvalidArgument(f"{what} must be a list of integers")
    return value


def parse_tensor(td: Any, what: str, default_dtype: str | None = None) -> Array:
    """TensorData (dense or CSR) or a plain list -> a dense Array."""
    if isinstance(td, list):
        if default_dtype is None:
            raise InvalidArgument(f"{what}: expected a TensorData object, got a list")
        td = {"data": td, "dtype": default_dtype}
    if not isinstance(td, dict):
        raise InvalidArgument(f"{what}: expected a TensorData object, got {type(td).__name__}")
    extra = set(td) - _TD_KEYS
    if extra:
        raise InvalidArgument(f"{what}: unknown TensorData keys {sorted(extra)}")
    dtype = td.get("dtype", default_dtype)
    if dtype not in _DTYPES:
        raise InvalidArgument(f"{what}: dtype must be 'int64' or 'float32', got {dtype!r}")
    if default_dtype == "float32" and dtype == "int64":
        # The service takes float inputs as integers too (a client turns a list or numpy array
        # of ints into int64): checked as integers, converted to float32.
        data = [float(v) for v in _ints(td.get("data"), f"{what}.data")]
        td, dtype = {**td, "data": data, "dtype": "float32"}, "float32"
    if default_dtype is not None and dtype != default_dtype:
        raise InvalidArgument(f"{what}: dtype must be {default_dtype!r}, got {dtype!r}")
    data = td.get("data")
    if not isinstance(data, list):
        raise InvalidArgument(f"{what}: 'data' must be a list")
    if dtype == "int64":
        _ints(data, f"{what}.data")
    else:
        if not _NUMBER.issuperset(map(type, data)):
            raise InvalidArgument(f"{what}: 'data' must hold numbers")
        data = [float(v) for v in data]
        if not all(map(math.isfinite, data)):
            raise InvalidArgument(f"{what}: 'data' holds NaN or infinity")
    shape = td.get("shape")
    if shape is not None:
        shape = _ints(shape, f"{what}.shape")
        if any(s < 0 for s in shape):
            raise InvalidArgument(f"{what}: negative dimension in shape {shape}")
    if "sparse_crow_indices" in td or "sparse_col_indices" in td:
        return _from_csr(td, data, dtype, shape, what)
    if shape is None:
        return Array(list(data), (len(data),), dtype)
    if math.prod(shape) != len(data):
        raise InvalidArgument(f"{what}: shape {shape} does not match {len(data)} values")
    return Array(list(data), tuple(shape), dtype)


def _from_csr(td: dict, values: list, dtype: str, shape: list[int] | None, what: str) -> Array:
    if shape is None or len(shape) != 2:
        raise InvalidArgument(f"{what}: a sparse (CSR) tensor needs a 2-D shape")
    crow = _ints(td.get("sparse_crow_indices"), f"{what}.sparse_crow_indices")
    col = _ints(td.get("sparse_col_indices"), f"{what}.sparse_col_indices")
    rows, cols = shape
    ok = (
        len(crow) == rows + 1
        and len(col) == len(values)
        and crow[0] == 0
        and crow[-1] == len(values)
        and all(a <= b for a, b in itertools.pairwise(crow))
        and all(0 <= c < cols for c in col)
    )
    if not ok:
        raise InvalidArgument(f"{what}: inconsistent CSR indices for shape {shape}")
    dense: list = [0 if dtype == "int64" else 0.0] * (rows * cols)
    for r in range(rows):
        for k in range(crow[r], crow[r + 1]):
            dense[r * cols + col[k]] = values[k]
    return Array(dense, (rows, cols), dtype)


def tensor_data(a: Array) -> dict:
    """Array -> dense float32 TensorData (the trainer already made the values finite)."""
    return {
        "data": [float(v) for v in a.data] if a.dtype != "float32" else a.data,
        "dtype": "float32",
        "shape": list(a.shape),
    }


def _tokens(model_input: Any, i: int) -> list[int]:
    if not isinstance(model_input, dict) or not isinstance(model_input.get("chunks"), list):
        raise InvalidArgument(f"data[{i}].model_input must be an object with a 'chunks' list")
    tokens: list[int] = []
    for j, chunk in enumerate(model_input["chunks"]):
        kind = chunk.get("type", "encoded_text") if isinstance(chunk, dict) else None
        if kind != "encoded_text":
            raise InvalidArgument(
                f"data[{i}].model_input.chunks[{j}]: only 'encoded_text' chunks are supported, "
                f"got {kind!r}"
            )
        tokens += _ints(chunk.get("tokens"), f"data[{i}].model_input.chunks[{j}].tokens")
    return tokens


# Embedding outputs (`loss_fn_config.output`) read no per-token inputs: target_tokens are
# optional, and a backward carries the client's dLoss/dEmbedding of any shape.
EMBEDDING_INPUT_DTYPES = {**LOSS_INPUT_DTYPES, "embedding_grads": "float32"}


def parse_datums(data: Any, *, embedding: bool = False) -> list[Example]:
    """Wire Datums -> Examples, validating every datum before any compute (`embedding`: the
    datums of a request for embedding outputs)."""
    if not isinstance(data, list) or not data:
        raise InvalidArgument("data must be a non-empty list of Datum objects")
    out = []
    for i, d in enumerate(data):
        if not isinstance(d, dict):
            raise InvalidArgument(f"data[{i}] must be a Datum object")
        toks = _tokens(d.get("model_input"), i)
        n = len(toks)
        if n == 0:
            raise InvalidArgument(f"data[{i}]: model_input has no tokens")
        raw = d.get("loss_fn_inputs")
        if not isinstance(raw, dict):
            raise InvalidArgument(f"data[{i}].loss_fn_inputs must be an object")
        known = EMBEDDING_INPUT_DTYPES if embedding else LOSS_INPUT_DTYPES
        unknown = set(raw) - set(known)
        if unknown:
            raise InvalidArgument(f"data[{i}].loss_fn_inputs: unknown keys {sorted(unknown)}")
        if embedding:
            grads = raw.get("embedding_grads")
            inputs = (
                {}
                if grads is None
                else {
                    "embedding_grads": parse_tensor(
                        grads, f"data[{i}].loss_fn_inputs.embedding_grads", "float32"
                    )
                }
            )
            out.append(Example(list(toks), inputs))
            continue
        if "target_tokens" not in raw:
            raise InvalidArgument(
                f"data[{i}].loss_fn_inputs: missing ['target_tokens'] for this loss"
            )
        inputs = {
            k: parse_tensor(v, f"data[{i}].loss_fn_inputs.{k}", LOSS_INPUT_DTYPES[k])
            for k, v in raw.items()
        }
        target = inputs["target_tokens"]
        if len(target.shape) not in (1, 2) or target.shape[0] != n:
            raise InvalidArgument(
                f"data[{i}]: target_tokens shape {list(target.shape)} must be [{n}] or [{n}, K] "
                f"(one row per input position)"
            )
        for k, a in inputs.items():
            if a.shape != target.shape:
                raise InvalidArgument(
                    f"data[{i}].loss_fn_inputs.{k}: shape {list(a.shape)} "
                    f"differs from target_tokens {list(target.shape)}"
                )
        _apply_loss_mask(inputs)
        out.append(Example(list(toks), inputs))
    return out


def _apply_loss_mask(inputs: dict[str, Array]) -> None:
    """`loss_mask` (1 = train on this position, 0 = skip) folds into the per-token inputs the
    losses read: masked positions get weight 0 and advantage 0, so they add no loss and do not
    count as loss tokens; the logprobs a forward returns are unaffected."""
    mask = inputs.pop("loss_mask", None)
    if mask is None:
        return
    w = inputs.get("weights")
    base = w.data if w is not None else [1.0] * len(mask.data)
    inputs["weights"] = Array(
        [a * m for a, m in zip(base, mask.data, strict=False)], mask.shape, "float32"
    )
    adv = inputs.get("advantages")
    if adv is not None:
        inputs["advantages"] = Array(
            [a * m for a, m in zip(adv.data, mask.data, strict=False)], adv.shape, "float32"
        )


def make_datum(
    tokens: list[int],
    *,
    weights: list[float] | None = None,
    advantages: list[float] | None = None,
    logprobs: list[float] | None = None,
) -> dict:
    """A wire Datum for next-token training on `tokens`: input `tokens[:-1]`, targets
    `tokens[1:]`; the optional per-token lists must have `len(tokens) - 1` entries."""
    n = len(tokens) - 1
    inputs: dict[str, dict] = {
        "target_tokens": {"data": list(tokens[1:]), "dtype": "int64", "shape": [n]}
    }
    for key, values in (("weights", weights), ("advantages", advantages), ("logprobs", logprobs)):
        if values is not None:
            inputs[key] = {"data": [float(v) for v in values], "dtype": "float32", "shape": [n]}
    return {
        "model_input": {"chunks": [{"type": "encoded_text", "tokens": list(tokens[:-1])}]},
        "loss_fn_inputs": inputs,
    }
