"""Shared pieces of the deployment conformance tests: a trainer + deployment connected with the
real fireworks-ai 1.2.28 managers, as an RL program builds them."""

from __future__ import annotations

import asyncio

import fireworks.training.sdk as fw
import numpy as np
from fireworks.training.sdk import deployment as fw_dep
from fireworks.training.sdk import trainer as fw_trainer
from fireworks.training.sdk.weight_syncer import WeightSyncer

from drydock.emulator import Emulator
from drydock.testing import virtual_time

__all__ = ["RL", "BASE", "SHAPE", "PROMPT", "ADAM"]

BASE = "accounts/fireworks/models/qwen3-0p6b"
SHAPE = "accounts/fireworks/deploymentShapes/qwen3-0p6b-32k-h100-deploy/versions/1"
PROMPT = [5, 6, 7, 8]
ADAM = fw.AdamParams(learning_rate=0.05, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.0)


class RL:
    """A connected trainer + deployment, as an RL program builds them."""

    def __init__(self, emu: Emulator, server, job_id: str, dep_id: str, *,
                 trainer: bool = True, ready: bool = True) -> None:
        self.emu, self.dep_id = emu, dep_id
        key, url = emu.api_key, server.url
        self.jobs = fw_trainer.TrainerJobManager(api_key=key, base_url=url)
        self.deps = fw_dep.DeploymentManager(api_key=key, base_url=url)
        with virtual_time(emu):
            # trainer=False: attach to an existing trainer job (another deployment's).
            self.endpoint = self.jobs.create_and_wait(fw_trainer.TrainerJobConfig(
                base_model=BASE, requested_job_id=job_id)) if trainer else \
                self.jobs.wait_for_existing(job_id)
            self.created = self.deps.create_or_get(fw_dep.DeploymentConfig(
                deployment_id=dep_id, base_model=BASE, deployment_shape=SHAPE,
                min_replica_count=1, max_replica_count=1,
                hot_load_trainer_job=f"accounts/{emu.account_id}/rlorTrainerJobs/{job_id}"))
            self.ready = self.deps.wait_for_ready(dep_id) if ready else None
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


