"""A neutral trainer answer -> the Tinker wire body the client expects in a future."""

from __future__ import annotations

import math
from typing import Any

from .datums import tensor_data

__all__ = ["answer_body", "error_body", "finite_output", "forward_output", "sanitize_optim"]


def _non_finite(obj: Any) -> bool:
    if isinstance(obj, float):
        return not math.isfinite(obj)
    if isinstance(obj, dict):
        return any(_non_finite(v) for v in obj.values())
    if isinstance(obj, list):
        return any(_non_finite(v) for v in obj)
    return False


def _colon_key(key: str) -> str:
    """Metric keys must be `<name>:<reduction>` with exactly one colon (or the client's chunk
    merge raises); bare `loss` is the contrastive loss's, which the SDK documents as
    `metrics["loss"]` of its one (never chunked) request."""
    if key.count(":") == 1 or key == "loss":
        return key
    return key.replace(":", "_") + ":mean"


def forward_output(result: dict[str, Any]) -> dict[str, Any]:
    """The trainer's {"outputs": [{name: Array}], "metrics"} -> a ForwardBackwardOutput."""
    return {
        "loss_fn_output_type": "ArrayRecord",
        "loss_fn_outputs": [
            {k: tensor_data(a) for k, a in o.items()} for o in result.get("outputs", [])
        ],
        "metrics": result.get("metrics", {}),
    }


def finite_output(out: dict[str, Any]) -> dict[str, Any]:
    """A ForwardBackwardOutput safe for the client: colon-ruled metric keys, no NaN/Inf."""
    out = {**out, "metrics": {_colon_key(k): v for k, v in out.get("metrics", {}).items()}}
    out.setdefault("loss_fn_output_type", "ArrayRecord")
    if _non_finite(out):
        return {
            "error": "the trainer produced non-finite values (NaN/Inf): the loss diverged; "
            "lower the learning rate or check the inputs",
            "category": "user",
        }
    return out


def sanitize_optim(out: dict[str, Any] | None) -> dict[str, Any]:
    """optim_step metrics without NaN/Inf (dropped: JSON cannot carry them)."""
    metrics = (out or {}).get("metrics") or {}
    clean = {
        k: float(v)
        for k, v in metrics.items()
        if isinstance(v, (int, float)) and math.isfinite(float(v))
    }
    return {"metrics": clean}


def error_body(category: str, message: str) -> dict[str, Any]:
    return {"error": message, "category": category}


def answer_body(
    op: str, payload: Any, *, model_id: str | None = None, ref: str | None = None
) -> dict[str, Any]:
    """The future's body for a successful neutral op (`ref`: what load_weights was asked)."""
    if op == "create_model":
        return {"model_id": model_id, "comms": "v1"}
    if op == "unload":
        return {"model_id": model_id, "type": "unload_model"}
    if op in ("forward", "forward_backward"):
        return finite_output(forward_output(payload))
    if op == "optim_step":
        return sanitize_optim(payload["result"])
    if op == "save_state":
        return {"path": payload["name"], "type": "save_weights"}
    if op == "save_for_sampler":
        return {"path": payload["name"]}
    if op == "load_state":
        return {"path": ref or None, "type": "load_weights"}
    if op == "load_adapter":
        return {"model_id": model_id, "adapter_path": ref, "type": "load_adapter"}
    return payload or {}
