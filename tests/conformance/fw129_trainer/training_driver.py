"""Drive fireworks-ai 1.2.9's training client (over tinker 0.23.0) against a drydock server with
the torch runtime (run with .venv-fw129's python; the pytest side owns the server).

    python training_driver.py <base_url> <job_id>

Like programs pinned to 1.2.9: TrainerJobManager.create_and_wait (in the server's virtual time),
FiretitanServiceClient(base_url=endpoint.base_url), create_training_client, then tinker.Datum /
tinker.AdamParams through forward_backward, optim_step, save_state, load_state. Prints one line
`DRYDOCK_RESULT <json>`.
"""

from __future__ import annotations

import json
import os
import sys
import traceback

import tinker
from fireworks.training.sdk.client import FiretitanServiceClient
from fireworks.training.sdk.trainer import TrainerJobConfig, TrainerJobManager

from drydock.testing import remote_virtual_time

BASE_MODEL = "accounts/fireworks/models/qwen3-0p6b"
SEQS = [[1, 2, 3, 4, 5, 6], [11, 12, 13, 14, 15]]


def batch() -> list:
    return [tinker.Datum(model_input=tinker.ModelInput.from_ints(s[:-1]),
                         loss_fn_inputs={"target_tokens": s[1:], "weights": [1.0] * (len(s) - 1)})
            for s in SEQS]


def run(base_url: str, job_id: str) -> dict:
    key = os.environ["FIREWORKS_API_KEY"]
    mgr = TrainerJobManager(api_key=key, base_url=base_url)
    with remote_virtual_time(base_url, admin_token=os.environ.get("DRYDOCK_ADMIN_TOKEN")):
        ep = mgr.create_and_wait(TrainerJobConfig(base_model=BASE_MODEL, requested_job_id=job_id),
                                 poll_interval_s=5, timeout_s=900)
    service = FiretitanServiceClient(base_url=ep.base_url, api_key=key)
    tc = service.create_training_client(base_model=BASE_MODEL, lora_rank=0)
    adam = tinker.AdamParams(learning_rate=0.02)
    losses = []
    for _ in range(4):
        out = tc.forward_backward(batch(), "cross_entropy").result()
        losses.append(out.metrics["loss:sum"])
        tc.optim_step(adam).result()
    saved = tc.save_state("step-4").result()
    at_save = tc.forward(batch(), "cross_entropy").result().metrics["loss:sum"]
    tc.forward_backward(batch(), "cross_entropy").result()
    tc.optim_step(adam).result()
    tc.load_state(saved.path).result()
    after_load = tc.forward(batch(), "cross_entropy").result().metrics["loss:sum"]
    logprobs = [len(o["logprobs"].tolist()) for o in
                tc.forward(batch(), "cross_entropy").result().loss_fn_outputs]
    service.close() if hasattr(service, "close") else None
    return {"base_url": ep.base_url, "losses": losses, "saved_path": saved.path,
            "at_save": at_save, "after_load": after_load, "logprob_lengths": logprobs}


def main(argv: list[str]) -> int:
    try:
        result = run(argv[1], argv[2])
    except Exception as exc:  # noqa: BLE001 - reported to the pytest side
        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"}
    print("DRYDOCK_RESULT " + json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
