"""Drive fireworks-ai 1.2.9's serverless training client (over tinker 0.23.0) against a drydock
server with the torch runtime (run with .venv-fw129's python; the pytest side owns the server).

    python serverless_driver.py <base_url> <mode>

mode `reference`: 6 steps of cross_entropy SFT on a serverless session. mode `preempted`: the same
loop saving state every 2 steps; the pytest side has armed a preemption at step 5 of the session
(the driver prints `DRYDOCK_SESSION <ts>` and waits for a line on stdin before training); after
the failure it lists the session's checkpoints (FireworksClient), opens a new session and resumes
from the newest with load_state_with_optimizer. Prints one line `DRYDOCK_RESULT <json>`.
"""

from __future__ import annotations

import json
import os
import sys
import traceback

import tinker
from fireworks.training.sdk.client import FiretitanServiceClient
from fireworks.training.sdk.fireworks_client import FireworksClient

BASE_MODEL = "accounts/fireworks/models/qwen3-0p6b"
SEQS = [[1, 2, 3, 4, 5, 6], [11, 12, 13, 14, 15]]
ADAM = tinker.AdamParams(learning_rate=0.02)


def batch() -> list:
    return [tinker.Datum(model_input=tinker.ModelInput.from_ints(s[:-1]),
                         loss_fn_inputs={"target_tokens": s[1:], "weights": [1.0] * (len(s) - 1)})
            for s in SEQS]


def step(tc) -> float:
    loss = tc.forward_backward(batch(), "cross_entropy").result().metrics["loss:sum"]
    tc.optim_step(ADAM).result()
    return loss


def run(base_url: str, mode: str) -> dict:
    key = os.environ["FIREWORKS_API_KEY"]
    service = FiretitanServiceClient(base_url=base_url + "/training/v1/serverless", api_key=key)
    session = service.training_session_id
    out: dict = {"session": session, "session_name": service.training_session_name}
    if mode == "reference":
        tc = service.create_training_client(base_model=BASE_MODEL, lora_rank=0)
        out["run_id"] = tc.run_id
        out["losses"] = [step(tc) for _ in range(6)]
        out["final"] = tc.forward(batch(), "cross_entropy").result().metrics["loss:sum"]
        return out
    print(f"DRYDOCK_SESSION {session}", flush=True)
    sys.stdin.readline()  # the pytest side armed the fault
    tc = service.create_training_client(base_model=BASE_MODEL, lora_rank=0)
    losses: list[float] = []
    try:
        for i in range(6):
            losses.append(step(tc))
            if (i + 1) % 2 == 0:
                out[f"saved_{i + 1}"] = tc.save_state(f"step-{i + 1}").result().path
    except Exception as exc:  # noqa: BLE001 - the preemption, as the SDK reports it
        out["failure"] = f"{type(exc).__name__}: {exc}"[:300]
    out["losses"] = losses
    rows = FireworksClient(api_key=key, base_url=base_url).list_training_session_checkpoints(
        service.training_session_name)
    newest = max((r for r in rows if not r["promotable"]), key=lambda r: r["step"])
    out["rows"] = [r["name"] for r in rows]
    out["resumed_from"] = newest["checkpointPath"]
    second = FiretitanServiceClient(base_url=base_url + "/training/v1/serverless", api_key=key)
    tc2 = second.create_training_client(base_model=BASE_MODEL, lora_rank=0)
    tc2.load_state_with_optimizer(newest["checkpointPath"]).result()
    out["resumed"] = [step(tc2) for _ in range(6 - newest["step"])]
    out["final"] = tc2.forward(batch(), "cross_entropy").result().metrics["loss:sum"]
    out["second_session"] = second.training_session_id
    return out


def main(argv: list[str]) -> int:
    try:
        result = run(argv[1], argv[2])
    except Exception as exc:  # noqa: BLE001 - reported to the pytest side
        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"}
    print("DRYDOCK_RESULT " + json.dumps(result, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
