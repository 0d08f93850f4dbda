"""The SDK-managed path (spec 8) with the real fireworks-ai 1.2.28:
`FiretitanServiceClient.from_firetitan_config` provisions the trainer and the rollout deployment
(in parallel threads), then save_weights_for_sampler -> hotload_sampler_snapshot ->
create_deployment_sampler -> train -> create_sampling_client(path) (a delta hot-load) -> Tinker
sample -> train -> weight_sync() -> the served logprobs equal the trainer's -> close() deletes
the deployment it created.

The SDK provisions from its own threads (their sleeps are real), so provisioning takes no
virtual time here (`Timings(provision_s=0)`): every first GET already reads READY / RUNNING.
"""

from __future__ import annotations

import pytest

fw = pytest.importorskip("fireworks.training.sdk")

from drydock.emulator import Emulator, Timings  # noqa: E402
from drydock.trainer import thread_runtime  # noqa: E402

BASE = "accounts/fireworks/models/qwen3-0p6b"
SHAPE = "accounts/fireworks/deploymentShapes/qwen3-0p6b-32k-h100-deploy/versions/1"
ADAM = fw.AdamParams(learning_rate=0.05, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.0)
PROMPT = [9, 10, 11]


def _train_once(tc, seqs: list[list[int]]) -> None:
    data = [fw.Datum(model_input=fw.ModelInput.from_ints(s[:-1]),
                     loss_fn_inputs={"target_tokens": s[1:], "weights": [1.0] * (len(s) - 1)})
            for s in seqs]
    tc.forward_backward(data, "cross_entropy").result(timeout=60)
    tc.optim_step(ADAM).result(timeout=60)


def _served_vs_trainer(tc, sampling_client) -> None:
    resp = sampling_client.sample(fw.ModelInput.from_ints(PROMPT), 2,
                                  fw.SamplingParams(max_tokens=6, temperature=0.8, seed=5),
                                  include_prompt_logprobs=True).result(timeout=60)
    assert len(resp.sequences) == 2
    for seq in resp.sequences:
        assert len(seq.tokens) == 6 and len(seq.logprobs) == 6
        full = PROMPT + list(seq.tokens)
        d = fw.Datum(model_input=fw.ModelInput.from_ints(full[:-1]),
                     loss_fn_inputs={"target_tokens": full[1:]})
        trainer_lp = list(tc.forward([d], "cross_entropy").result(timeout=60)
                          .loss_fn_outputs[0]["logprobs"].data)
        # Prompt logprobs come from the raw model: exactly the trainer's (CPU).
        assert resp.prompt_logprobs[1:] == trainer_lp[:len(PROMPT) - 1]
        # seq.logprobs are sampling logprobs (temperature 0.8): not the raw ones.
        assert seq.logprobs != trainer_lp[len(PROMPT) - 1:]


def test_managed_rl_loop() -> None:
    emu = Emulator(seed=5, runtime=thread_runtime(torch_threads=1),
                   timings=Timings(provision_s=0.0))
    with emu, emu.serve() as server:
        service = fw.FiretitanServiceClient.from_firetitan_config(
            api_key=emu.api_key, base_url=server.url, base_model=BASE,
            trainer_job_id="managed-policy", deployment_id="managed-rollout",
            deployment_shape=SHAPE, cleanup_deployment_on_close="delete")
        try:
            tc = service.create_training_client(base_model=BASE, lora_rank=0)
            cp = emu.control_plane
            dep = cp.get_job(emu.account_id, "deployment:managed-rollout")
            body = dep.payload["body"]
            assert body["forTraining"] is True
            assert body["hotLoadTrainerJob"] == f"accounts/{emu.account_id}/rlorTrainerJobs/managed-policy"

            saved = tc.save_weights_for_sampler("base-0").result(timeout=60)
            service.hotload_sampler_snapshot(saved.path)
            rep = service.deployment_id
            assert rep == "managed-rollout"
            status = lambda: cp.runtimes["fireworks-deployments"].replica(dep).current
            assert status() == saved.path
            sampler = service.create_deployment_sampler()
            assert sampler is not None

            _train_once(tc, [[1, 2, 3, 4, 5], [6, 7, 8, 9]])
            saved1 = tc.save_weights_for_sampler("step-1").result(timeout=60)
            sc = tc.create_sampling_client(saved1.path)           # delta hot-load
            assert status() == saved1.path
            loads = emu.events.filter("deployment.hot_loaded")
            assert loads[-1].detail == {"identity": saved1.path, "delta": True,
                                        "previous": saved.path}
            _served_vs_trainer(tc, sc)

            _train_once(tc, [[1, 2, 3, 4, 5]])
            synced = tc.weight_sync().result(timeout=60)
            assert synced.version.startswith("weight-sync-") and status() == synced.version
            _served_vs_trainer(tc, sc)
        finally:
            service.close()
        # close() deletes the deployment it created (hard): gone for the API.
        assert all(j.payload.get("gone") for j in emu.control_plane.list_jobs(
            emu.account_id, "fireworks-deployments"))
