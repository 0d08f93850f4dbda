"""One full RL step with the real fireworks-ai 1.2.28 SDK, low-level path (spec 11): trainer +
`DeploymentManager` + `WeightSyncer` (base, then delta) + `DeploymentSampler` n=4 + train + sync
+ verify: the deployment serves the new snapshot, and its logprobs equal the trainer's forward
logprobs for the same tokens (on CPU, exactly).

Provisioning and the SDK's polls run under `virtual_time` (no wall-clock waits); sampling and
training run in real time on the thread runtime.
"""

from __future__ import annotations

import asyncio

import numpy as np

import pytest

fw = pytest.importorskip("fireworks.training.sdk")
from fireworks.training.sdk import deployment as fw_dep  # noqa: E402
from fireworks.training.sdk import trainer as fw_trainer  # noqa: E402
from fireworks.training.sdk.weight_syncer import WeightSyncer  # noqa: E402

from drydock.emulator import Emulator  # noqa: E402
from drydock.testing import virtual_time  # noqa: E402
from drydock.trainer import thread_runtime  # noqa: E402

BASE = "accounts/fireworks/models/qwen3-0p6b"
SHAPE = "accounts/fireworks/deploymentShapes/qwen3-0p6b-32k-h100-deploy/versions/1"
PROMPT = [5, 6, 7, 8]
ADAM = fw.AdamParams(learning_rate=0.05, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.0)


class RL:
    """A connected trainer + deployment, as an RL program builds them."""

    def __init__(self, emu: Emulator, server, job_id: str, dep_id: str) -> None:
        self.emu, self.dep_id = emu, dep_id
        key, url = emu.api_key, server.url
        self.jobs = fw_trainer.TrainerJobManager(api_key=key, base_url=url)
        self.deps = fw_dep.DeploymentManager(api_key=key, base_url=url)
        with virtual_time(emu):
            self.endpoint = self.jobs.create_and_wait(fw_trainer.TrainerJobConfig(
                base_model=BASE, requested_job_id=job_id))
            self.created = self.deps.create_or_get(fw_dep.DeploymentConfig(
                deployment_id=dep_id, base_model=BASE, deployment_shape=SHAPE,
                min_replica_count=1, max_replica_count=1,
                hot_load_trainer_job=f"accounts/{emu.account_id}/rlorTrainerJobs/{job_id}"))
            self.ready = self.deps.wait_for_ready(dep_id)
        self.service = fw.FiretitanServiceClient(base_url=self.endpoint.base_url, api_key=key)
        self.tc = self.service.create_training_client(base_model=BASE, lora_rank=0)
        self.syncer = WeightSyncer(policy_client=self.tc, deploy_mgr=self.deps,
                                   deployment_id=dep_id, base_model=BASE)
        self.sampler = self.syncer.get_deployment_sampler()

    def sync(self, name: str) -> str:
        with virtual_time(self.emu):
            return self.syncer.save_and_hotload(name)

    def sample(self, n: int = 4, **kw):
        kw.setdefault("temperature", 1.0)
        return asyncio.run(self.sampler.sample_with_prompt_tokens(
            PROMPT, n=n, max_tokens=8, logprobs=True, **kw))

    def status(self) -> dict:
        return self.deps.hotload_check_status(self.dep_id, BASE)["replicas"][0]

    def trainer_logprobs(self, tokens: list[int]) -> list[float]:
        d = fw.Datum(model_input=fw.ModelInput.from_ints(tokens[:-1]),
                     loss_fn_inputs={"target_tokens": tokens[1:],
                                     # int64, as RL programs send it (a numpy int array)
                                     "loss_mask": fw.TensorData.from_numpy(
                                         np.ones(len(tokens) - 1, dtype=np.int64))})
        out = self.tc.forward([d], "cross_entropy").result(timeout=60)
        return list(out.loss_fn_outputs[0]["logprobs"].data)

    def close(self) -> None:
        self.service.close()
        self.deps.close()
        self.jobs.close()


@pytest.fixture(scope="module")
def served():
    emu = Emulator(seed=11, runtime=thread_runtime(torch_threads=1))
    with emu, emu.serve() as server:
        yield emu, server


def test_low_level_rl_step(served) -> None:
    emu, server = served
    rl = RL(emu, server, "policy-1", "rollout-1")
    try:
        assert rl.created.name == f"accounts/{emu.account_id}/deployments/rollout-1"
        assert rl.ready.state == "READY"
        assert rl.status()["current_snapshot_identity"] is None

        step0 = rl.sync("step-0")
        assert step0.startswith("step-0-")
        st = rl.status()
        assert st["current_snapshot_identity"] == step0 and st["readiness"] is True

        # Sample n=4 with logprobs; score: reward = share of even tokens.
        samples = rl.sample()
        assert len(samples) == 4
        for s in samples:
            assert s.full_tokens[:len(PROMPT)] == PROMPT and s.completion_len == 8
            assert s.finish_reason == "length"
            assert len(s.inference_logprobs) == 8 and len(s.sampling_logprobs) == 8
            # At temperature 1 without top-k/top-p the two logprobs agree (to float rounding).
            assert s.sampling_logprobs == pytest.approx(s.inference_logprobs, abs=1e-4)
            # The served logprobs are the trainer's for the served snapshot: exactly (CPU).
            assert rl.trainer_logprobs(s.full_tokens)[-8:] == s.inference_logprobs
        rewards = [sum(t % 2 == 0 for t in s.full_tokens[len(PROMPT):]) / 8 for s in samples]
        mean = sum(rewards) / 4
        data = [fw.Datum(model_input=fw.ModelInput.from_ints(s.full_tokens[:-1]),
                         loss_fn_inputs={
                             "target_tokens": s.full_tokens[1:],
                             "logprobs": [0.0] * (len(PROMPT) - 1) + s.sampling_logprobs,
                             "advantages": [0.0] * (len(PROMPT) - 1) + [r - mean] * 8})
                for s, r in zip(samples, rewards)]
        rl.tc.forward_backward(data, "importance_sampling").result(timeout=60)
        rl.tc.optim_step(ADAM).result(timeout=60)

        # Delta sync: the deployment now serves step-1, and its logprobs moved with the weights.
        step1 = rl.sync("step-1")
        st = rl.status()
        assert st["current_snapshot_identity"] == step1 and st["loading_state"]["stage"] == "done"
        events = emu.events.filter("deployment.hot_loaded")
        assert [(e.detail["identity"], e.detail["delta"], e.detail["previous"])
                for e in events[-2:]] == [(step0, False, None), (step1, True, step0)]
        again = rl.sample(seed=3)
        for s in again:
            assert rl.trainer_logprobs(s.full_tokens)[-8:] == s.inference_logprobs
        # The same seed goes to all n requests: a deterministic server gives n equal samples.
        assert len({tuple(s.full_tokens) for s in again}) == 1

        rl.deps.scale_to_zero("rollout-1")
        assert emu.control_plane.get_job(emu.account_id, "deployment:rollout-1").accelerators == 0
        rl.deps.delete("rollout-1")
        assert rl.deps.get("rollout-1") is None
    finally:
        rl.close()
