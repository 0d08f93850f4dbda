"""One RL step the way public programs pinned to fireworks-ai 1.2.9 + tinker 0.23.0 run it,
against a drydock server (run with .venv-fw129's python; the pytest side owns the server):

    python rl_driver.py <base_url> <job_id> <deployment_id>

TrainerJobManager.create_and_wait -> DeploymentManager.create_or_get (GET 404, POST) ->
wait_for_ready -> training client -> WeightSyncer.save_and_hotload (base) -> DeploymentSampler
n=4 with logprobs (SSE) -> a reference forward whose datums carry `loss_mask` (int64) ->
importance_sampling with int64 `weights`-style inputs -> optim_step -> save_and_hotload (delta)
-> sample -> the trainer's forward logprobs for the sampled tokens -> an echo request with
top_logprobs (a distillation teacher) -> scale_to_zero -> delete. Waits run in the server's
virtual time. Prints one line `DRYDOCK_RESULT <json>`.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import traceback

import numpy as np
import tinker
from fireworks.training.sdk.client import FiretitanServiceClient
from fireworks.training.sdk.deployment import DeploymentConfig, DeploymentManager
from fireworks.training.sdk.trainer import TrainerJobConfig, TrainerJobManager
from fireworks.training.sdk.weight_syncer import WeightSyncer

from drydock.testing import remote_virtual_time

BASE = "accounts/fireworks/models/qwen3-0p6b"
SHAPE = "accounts/fireworks/deploymentShapes/qwen3-0p6b-32k-h100-deploy/versions/1"
PROMPT = [3, 4, 5]
# 1.2.9's sampler keeps its async HTTP client on the first event loop: one loop for the run, as
# an async RL program has.
LOOP = asyncio.new_event_loop()


def i64(values) -> tinker.TensorData:
    return tinker.TensorData.from_numpy(np.asarray(values, dtype=np.int64))


def forward_logprobs(tc, tokens: list[int]) -> list[float]:
    d = tinker.Datum(model_input=tinker.ModelInput.from_ints(tokens[:-1]),
                     loss_fn_inputs={"target_tokens": tokens[1:],
                                     "loss_mask": i64([1] * (len(tokens) - 1))})
    return [float(x) for x in tc.forward([d], "cross_entropy").result()
            .loss_fn_outputs[0]["logprobs"].tolist()]


def run(base_url: str, job_id: str, dep_id: str) -> dict:
    key = os.environ["FIREWORKS_API_KEY"]
    jobs = TrainerJobManager(api_key=key, base_url=base_url)
    deps = DeploymentManager(api_key=key, base_url=base_url)
    out: dict = {}
    with remote_virtual_time(base_url, admin_token=os.environ.get("DRYDOCK_ADMIN_TOKEN")):
        ep = jobs.create_and_wait(TrainerJobConfig(base_model=BASE, requested_job_id=job_id),
                                  poll_interval_s=5, timeout_s=900)
        out["before_create"] = deps.get(dep_id)
        info = deps.create_or_get(DeploymentConfig(
            deployment_id=dep_id, base_model=BASE, deployment_shape=SHAPE,
            min_replica_count=1, max_replica_count=1,
            hot_load_trainer_job=ep.job_name))
        out["created_state"] = info.state
        out["ready_state"] = deps.wait_for_ready(dep_id).state
    service = FiretitanServiceClient(base_url=ep.base_url, api_key=key)
    tc = service.create_training_client(base_model=BASE, lora_rank=0)
    syncer = WeightSyncer(policy_client=tc, deploy_mgr=deps, deployment_id=dep_id,
                          base_model=BASE)
    with remote_virtual_time(base_url, admin_token=os.environ.get("DRYDOCK_ADMIN_TOKEN")):
        out["step0"] = syncer.save_and_hotload("step-0")
    sampler = syncer.get_deployment_sampler()
    samples = LOOP.run_until_complete(sampler.sample_with_prompt_tokens(PROMPT, n=4, max_tokens=6,
                                                            temperature=1.0, logprobs=True))
    out["n_samples"] = len(samples)
    rewards = [sum(t % 2 for t in s.full_tokens[len(PROMPT):]) / 6 for s in samples]
    mean = sum(rewards) / len(rewards)
    ref = [forward_logprobs(tc, s.full_tokens) for s in samples]   # loss_mask reference pass
    out["step0_logprobs_match"] = all(r[-6:] == s.inference_logprobs
                                      for r, s in zip(ref, samples))
    data = [tinker.Datum(model_input=tinker.ModelInput.from_ints(s.full_tokens[:-1]),
                         loss_fn_inputs={
                             "target_tokens": s.full_tokens[1:],
                             "logprobs": [0.0] * (len(PROMPT) - 1) + list(s.sampling_logprobs),
                             "advantages": [0.0] * (len(PROMPT) - 1) + [r - mean] * 6,
                             "loss_mask": i64([0] * (len(PROMPT) - 1) + [1] * 6)})
            for s, r in zip(samples, rewards)]
    fb = tc.forward_backward(data, "importance_sampling").result()
    out["loss"] = fb.metrics["loss:sum"]
    sft = [tinker.Datum(model_input=tinker.ModelInput.from_ints(s.full_tokens[:-1]),
                        loss_fn_inputs={"target_tokens": s.full_tokens[1:],
                                        "weights": i64([0] * (len(PROMPT) - 1) + [1] * 6)})
           for s in samples]
    out["int_weights_loss"] = tc.forward(sft, "cross_entropy").result().metrics["loss:sum"]
    tc.optim_step(tinker.AdamParams(learning_rate=0.05)).result()
    with remote_virtual_time(base_url, admin_token=os.environ.get("DRYDOCK_ADMIN_TOKEN")):
        out["step1"] = syncer.save_and_hotload("step-1")
        out["status"] = deps.hotload_check_status(dep_id, BASE)["replicas"][0]
    again = LOOP.run_until_complete(sampler.sample_with_prompt_tokens(PROMPT, n=4, max_tokens=6,
                                                          temperature=1.0, logprobs=True))
    out["step1_logprobs_match"] = all(forward_logprobs(tc, s.full_tokens)[-6:]
                                      == s.inference_logprobs for s in again)
    teacher = LOOP.run_until_complete(sampler.sample_with_prompt_tokens(
        PROMPT + [7, 8], n=1, max_tokens=1, temperature=1.0, logprobs=True, echo=True,
        top_logprobs=2))[0]
    out["echo_rows"] = len(teacher.inference_logprobs)
    out["echo_matches"] = teacher.inference_logprobs[:4] == forward_logprobs(
        tc, teacher.full_tokens)[:4]
    with remote_virtual_time(base_url, admin_token=os.environ.get("DRYDOCK_ADMIN_TOKEN")):
        deps.scale_to_zero(dep_id)
        deps.delete(dep_id)
        out["after_delete"] = deps.get(dep_id)
    service.close() if hasattr(service, "close") else None
    return out


def main(argv: list[str]) -> int:
    try:
        result = run(argv[1], argv[2], argv[3])
    except Exception as exc:  # noqa: BLE001 - reported to the pytest side
        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"}
    print("DRYDOCK_RESULT " + json.dumps(result, sort_keys=True, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
