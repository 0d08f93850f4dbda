"""Data-parallel helpers: split an op's examples over the nodes, merge the nodes' outputs."""

from __future__ import annotations

from typing import Any

__all__ = ["merge_outputs", "shard"]


# Embedding outputs computed over the whole request's batch (S = Z @ Z.T, InfoNCE): never split.
_BATCH_COUPLED = ("cos_similarity_matrix", "contrastive_loss")


def shard(args: dict[str, Any], n: int) -> list[dict[str, Any]]:
    """Contiguous shards of the examples, one per node (order kept: node r's outputs come r-th).
    A batch-coupled embedding output goes whole to node 0 (the others get an empty shard and
    add no gradients; the nodes' gradients are summed at the update)."""
    data = args["data"]
    cfg = args.get("loss_fn_config")
    if n > 1 and isinstance(cfg, dict) and cfg.get("output") in _BATCH_COUPLED:
        return [args] + [{**args, "data": []} for _ in range(n - 1)]
    size, extra = divmod(len(data), n)
    out, start = [], 0
    for r in range(n):
        end = start + size + (1 if r < extra else 0)
        out.append({**args, "data": data[start:end]})
        start = end
    return out


def merge_outputs(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Combine per-node forward outputs {"outputs", "metrics"} (sum keys add, mean keys weight
    by examples, min/max keys reduce)."""
    if not parts:
        return {"outputs": [], "metrics": {}}
    if len(parts) == 1:
        return parts[0]
    outputs = [o for p in parts for o in p.get("outputs", [])]
    counts = [max(len(p.get("outputs", [])), 1) for p in parts]
    metrics: dict[str, float] = {}
    for key in parts[0].get("metrics", {}):
        vals = [p["metrics"][key] for p in parts if key in p.get("metrics", {})]
        red = key.rsplit(":", 1)[-1]
        if red == "sum":
            metrics[key] = float(sum(vals))
        elif red == "mean":
            metrics[key] = float(
                sum(v * c for v, c in zip(vals, counts, strict=False)) / sum(counts)
            )
        elif red == "min":
            metrics[key] = float(min(vals))
        elif red == "max":
            metrics[key] = float(max(vals))
        else:
            metrics[key] = vals[0]
    return {**parts[0], "outputs": outputs, "metrics": metrics}
