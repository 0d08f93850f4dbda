"""Drive fireworks-ai 1.2.9's training client (over tinker 0.23.0) through the capabilities of
issue 11 against a drydock server with the torch runtime (run with .venv-fw129's python; the
pytest side owns the server and, for load_adapter, promotes the adapter beforehand).

    python capabilities_driver.py <base_url> <job_id> <lora_job_id> <adapter_model> <seqs_json>

On one full-parameter job, from the same saved initial state each time: an embedding model
trained with `output="embedding"` (mean and last pooling) and `output="cos_similarity_matrix"`
and a client loss, then with the server-side `forward_backward_contrastive`;
bad loss configs answered as user errors (tinker.RequestFailedError). On a LoRA job:
`load_adapter` of the promoted model, then a forward. 1.2.9 has no `weight_sync` (RDMA
publication came later); its publication path, WeightSyncer.save_and_hotload, is driven by
fw129_deployments/rl_driver.py. Prints one line `DRYDOCK_RESULT <json>`.

.venv-fw129 has no torch, which 1.2.9's `forward_backward_custom` imports for the client loss's
autograd. So the client-loss modes make the same two calls it makes, the forward for the
outputs (`_forward_embedding_async`) and the backward with the client's `embedding_grads`
(`_forward_backward_embedding_async`), with the gradient of a cosine loss worked out by hand:
the same requests on the wire, without torch.
"""

from __future__ import annotations

import json
import os
import sys
import traceback

import math

import tinker
from fireworks.training.sdk.client import FiretitanServiceClient
from fireworks.training.sdk.trainer import TrainerJobConfig, TrainerJobManager

from drydock.testing import remote_virtual_time

BASE_MODEL = "accounts/fireworks/models/qwen3-0p6b"
QUERIES = [[5, 6, 7, 8], [40, 41, 42]]
DOCS = [[5, 6, 9, 10, 11], [40, 43, 44]]
EXTRA = [[70, 71, 72, 73], [90, 91]]
STEPS = 5


def _datums(seqs: list[list[int]]) -> list:
    return [tinker.Datum(model_input=tinker.ModelInput.from_ints(s), loss_fn_inputs={})
            for s in seqs]


def _dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def _pair_cosine_loss(e: list[list[float]]) -> tuple[float, list[list[float]]]:
    """loss = sum_i (1 - cos(q_i, d_i)) over the pooled embeddings [Q.., D..] and dloss/de."""
    b = len(e) // 2
    loss, grads = 0.0, [[0.0] * len(e[0]) for _ in e]
    for i in range(b):
        q, d = e[i], e[b + i]
        nq, nd = math.sqrt(_dot(q, q)), math.sqrt(_dot(d, d))
        cos = _dot(q, d) / (nq * nd)
        loss += 1.0 - cos
        # d cos / d q = d / (|q||d|) - cos * q / |q|^2 (and symmetrically for d)
        grads[i] = [-(dj / (nq * nd) - cos * qj / nq**2) for qj, dj in zip(q, d, strict=True)]
        grads[b + i] = [-(qj / (nq * nd) - cos * dj / nd**2) for qj, dj in zip(q, d, strict=True)]
    return loss, grads


def _matrix_loss(rows: list[list[float]]) -> tuple[float, list[list[float]]]:
    """loss = -sum_i S[i, B+i] over the cosine matrix S (rows [Q.., D..]) and dloss/dS."""
    b = len(rows) // 2
    grads = [[0.0] * len(rows) for _ in rows]
    for i in range(b):
        grads[i][b + i] = -1.0
    return -sum(rows[i][b + i] for i in range(b)), grads


def _client_loss_step(tc, data, output: str, pooling: str, loss_fn) -> float:
    """What forward_backward_custom(data, loss_fn, output=, pooling=) sends, without torch."""
    run = lambda coro: tc.holder.run_coroutine_threadsafe(coro).result().result()
    fwd = run(tc._forward_embedding_async(data, pooling, output=output))
    values = [o["embedding"].data for o in fwd.loss_fn_outputs]
    loss, grads = loss_fn(values)
    back = [tinker.Datum(model_input=d.model_input, loss_fn_inputs={"embedding_grads":
            tinker.TensorData(data=g, dtype="float32", shape=[len(g)])})
            for d, g in zip(data, grads, strict=True)]
    run(tc._forward_backward_embedding_async(back, pooling, output=output))
    return loss


def _train(tc, adam, step) -> list[float]:
    tc.load_state("init").result()  # every mode starts from the same untrained model
    losses = []
    for _ in range(STEPS):
        losses.append(step())
        tc.optim_step(adam).result()
    return losses


def _user_error(call) -> dict:
    try:
        call().result()
    except tinker.RequestFailedError as e:
        return {"type": type(e).__name__, "category": str(e.category), "message": e.message}
    except Exception as e:  # noqa: BLE001 - anything else is the finding
        return {"type": type(e).__name__, "message": str(e)}
    return {"type": None}


def run(base_url: str, job_id: str, lora_job_id: str, adapter: str, seqs_json: str) -> dict:
    key = os.environ["FIREWORKS_API_KEY"]
    mgr = TrainerJobManager(api_key=key, base_url=base_url)
    with remote_virtual_time(base_url, admin_token=os.environ.get("DRYDOCK_ADMIN_TOKEN")):
        ep = mgr.create_and_wait(TrainerJobConfig(base_model=BASE_MODEL, requested_job_id=job_id),
                                 poll_interval_s=5, timeout_s=900)
        lora_ep = mgr.create_and_wait(TrainerJobConfig(base_model=BASE_MODEL, lora_rank=4,
                                                       requested_job_id=lora_job_id),
                                      poll_interval_s=5, timeout_s=900)
    out: dict = {}
    service = FiretitanServiceClient(base_url=ep.base_url, api_key=key)
    tc = service.create_training_client(base_model=BASE_MODEL, lora_rank=0)
    adam = tinker.AdamParams(learning_rate=0.02)
    tc.save_state("init").result()
    pair = _datums(QUERIES + DOCS)
    for pooling in ("mean", "last"):
        out[f"embedding_{pooling}"] = _train(tc, adam, lambda p=pooling: _client_loss_step(
            tc, pair, "embedding", p, _pair_cosine_loss))
    out["cos_similarity_matrix"] = _train(tc, adam, lambda: _client_loss_step(
        tc, pair, "cos_similarity_matrix", "last", _matrix_loss))
    with_extra = _datums(QUERIES + DOCS + EXTRA)
    out["contrastive"] = _train(tc, adam, lambda: tc.forward_backward_contrastive(
        with_extra, num_queries=2, temperature=0.05, pooling="mean", num_extra_negatives=2
    ).result().metrics["loss"])
    probe = lambda: tc.forward_backward_contrastive(  # no optim_step: the weights stay put
        pair, num_queries=2, temperature=1.0).result().metrics["loss"]
    out["before_bad"] = probe()
    out["bad"] = {
        "temperature_0": _user_error(lambda: tc.forward_backward_contrastive(
            pair, num_queries=2, temperature=0.0)),
        "pooling_max": _user_error(lambda: tc.forward_backward_contrastive(
            pair, num_queries=2, temperature=0.1, pooling="max")),
        "output_unknown": _user_error(lambda: tc.forward(pair, "cross_entropy",
                                                         {"output": "logits"})),
        "extra_key": _user_error(lambda: tc.forward(
            pair, "cross_entropy", {"output": "embedding", "margin": 0.2})),
    }
    out["after_bad"] = probe()  # the refusals changed nothing
    service.close() if hasattr(service, "close") else None

    lora_service = FiretitanServiceClient(base_url=lora_ep.base_url, api_key=key)
    lora = lora_service.create_training_client(base_model=BASE_MODEL, lora_rank=4)
    batch = [tinker.Datum(model_input=tinker.ModelInput.from_ints(s[:-1]),  # the adapter's data
                          loss_fn_inputs={"target_tokens": s[1:], "weights": [1.0] * (len(s) - 1)})
             for s in json.loads(seqs_json)]
    fwd = lambda: lora.forward(batch, "cross_entropy").result().metrics["loss:sum"]
    out["lora_fresh"] = fwd()
    loaded = lora.load_adapter(adapter).result()
    out["load_adapter"] = {"type": loaded.type, "adapter_path": loaded.adapter_path,
                           "model_id_matches": loaded.model_id == lora.model_id}
    out["lora_loaded"] = fwd()
    out["bad_adapter"] = _user_error(lambda: lora.load_adapter("accounts/drydock/models/nope"))
    lora_service.close() if hasattr(lora_service, "close") else None
    return out


def main(argv: list[str]) -> int:
    try:
        result = run(*argv[1:6])
    except Exception as exc:  # noqa: BLE001 - reported to the pytest side
        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"}
    print("DRYDOCK_RESULT " + json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
