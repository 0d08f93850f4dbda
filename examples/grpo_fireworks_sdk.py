"""A GRPO-style RL loop with the real fireworks-ai SDK (1.2.28) against drydock, surviving a
preemption of the policy trainer.

    python examples/grpo_fireworks_sdk.py                     # in process, virtual time
    python examples/grpo_fireworks_sdk.py --url http://127.0.0.1:8765 --admin-token T

Each step: sample a group of completions per prompt from the rollout deployment
(`DeploymentSampler`, logprobs on), score them with a toy reward (the share of even token ids),
turn rewards into group-relative advantages, train with the `importance_sampling` loss on the
sampler's logprobs, and sync the new weights to the deployment (`WeightSyncer`: a base snapshot
first, deltas after). A `save_state` every `--checkpoint-every` steps lets the loop resume when
the trainer is preempted (at `--preempt-at-step`): reconnect, load the newest state, and start a
new weight-sync chain; the deployment keeps serving the last snapshot meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fireworks.training.sdk as fw
from _common import BASE_MODEL, DEFAULT_KEY, emulator, inject_preemption
from fireworks.training.sdk import (
    DeploymentConfig,
    DeploymentManager,
    TrainerJobConfig,
    TrainerJobManager,
    WeightSyncer,
)

from drydock.testing import remote_virtual_time, virtual_time

SHAPE = "accounts/fireworks/deploymentShapes/qwen3-0p6b-32k-h100-deploy/versions/1"
PROMPTS = [[1, 2, 3], [5, 8, 13]]
ADAM = fw.AdamParams(learning_rate=0.02, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.0)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", help="a drydock server (`drydock serve`); default: in process")
    p.add_argument("--api-key", default=DEFAULT_KEY)
    p.add_argument("--admin-token", default=None)
    p.add_argument("--job-id", default="grpo-policy")
    p.add_argument("--deployment-id", default="grpo-rollout")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--group-size", type=int, default=8)
    p.add_argument("--max-tokens", type=int, default=8)
    p.add_argument("--checkpoint-every", type=int, default=5)
    p.add_argument("--preempt-at-step", type=int, default=15)
    return p.parse_args(argv)


def reward(completion: list[int]) -> float:
    """Toy verifier: the share of even token ids (a random policy scores about 0.5)."""
    return sum(t % 2 == 0 for t in completion) / max(len(completion), 1)


def rl_datums(groups) -> tuple[list, float]:
    """GRPO: advantages are rewards minus the group mean; train on the completion tokens only,
    with the sampler's logprobs as the behaviour policy of `importance_sampling`."""
    data, rewards = [], []
    for _prompt, samples in groups:
        rs = [reward(s.full_tokens[s.prompt_len:]) for s in samples]
        rewards += rs
        mean = sum(rs) / len(rs)
        for s, r in zip(samples, rs, strict=False):
            p, c = s.prompt_len, s.completion_len
            data.append(fw.Datum(
                model_input=fw.ModelInput.from_ints(s.full_tokens[:-1]),
                loss_fn_inputs={"target_tokens": s.full_tokens[1:],
                                "logprobs": [0.0] * (p - 1) + list(s.sampling_logprobs),
                                "advantages": [0.0] * (p - 1) + [r - mean] * c}))
    return data, sum(rewards) / len(rewards)


def latest_state(mgr: TrainerJobManager, job_id: str) -> tuple[str | None, int]:
    rows = [r for r in mgr.list_checkpoints(job_id)
            if r.get("checkpointType", "").endswith("TRAINING")]
    if not rows:
        return None, 0
    name = rows[-1]["name"].rsplit("/", 1)[-1]
    return name, int(name.split("-")[1])


def run(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    loop = asyncio.new_event_loop()  # one loop for the sampler's async client
    with emulator(args) as (emu, url):
        @contextmanager
        def warp():  # the SDK's time.sleep/time.time on the emulator's clock
            with (virtual_time(emu) if emu is not None
                  else remote_virtual_time(url, args.admin_token)):
                yield

        jobs = TrainerJobManager(api_key=args.api_key, base_url=url)
        deps = DeploymentManager(api_key=args.api_key, base_url=url)
        with warp():
            endpoint = jobs.create_and_wait(TrainerJobConfig(base_model=BASE_MODEL,
                                                             requested_job_id=args.job_id))
            deps.create_or_get(DeploymentConfig(
                deployment_id=args.deployment_id, base_model=BASE_MODEL, deployment_shape=SHAPE,
                min_replica_count=1, max_replica_count=1, hot_load_trainer_job=endpoint.job_name))
            deps.wait_for_ready(args.deployment_id)
        inject_preemption(args, emu, url)

        def connect(ep):
            service = fw.FiretitanServiceClient(base_url=ep.base_url, api_key=args.api_key)
            tc = service.create_training_client(base_model=BASE_MODEL, lora_rank=0)
            syncer = WeightSyncer(policy_client=tc, deploy_mgr=deps,
                                  deployment_id=args.deployment_id, base_model=BASE_MODEL)
            return service, tc, syncer

        service, tc, syncer = connect(endpoint)
        with warp():
            syncer.save_and_hotload("step-0")
        sampler = syncer.get_deployment_sampler()
        rewards: dict[int, float] = {}
        step, recoveries, restored = 0, 0, []
        try:
            while step < args.steps:
                groups = [(p, loop.run_until_complete(sampler.sample_with_prompt_tokens(
                    p, n=args.group_size, max_tokens=args.max_tokens, temperature=1.0,
                    logprobs=True))) for p in PROMPTS]
                data, mean_reward = rl_datums(groups)
                try:
                    tc.forward_backward(data, "importance_sampling").result(timeout=120)
                    tc.optim_step(ADAM).result(timeout=120)
                    rewards[step] = mean_reward
                    step += 1
                    if step % args.checkpoint_every == 0:
                        tc.save_state(f"state-{step}").result(timeout=120)
                    with warp():
                        syncer.save_and_hotload(f"step-{step}")
                except Exception as exc:
                    recoveries += 1
                    if recoveries > 3:
                        raise
                    print(f"trainer preempted at step {step}: {type(exc).__name__}; recovering "
                          "(the deployment keeps serving the last snapshot)")
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        service.close()
                    with warp():
                        endpoint = jobs.reconnect_and_wait(args.job_id)
                    service, tc, syncer = connect(endpoint)
                    name, step = latest_state(jobs, args.job_id)
                    if name:
                        tc.load_state_with_optimizer(name).result(timeout=120)
                        restored.append(name)
                    with warp():  # a new session: a new chain, starting with a base snapshot
                        syncer.save_and_hotload(f"resume-{step}")
        finally:
            service.close()
        for i, r in sorted(rewards.items()):
            print(f"step {i:2d}: mean reward {r:.3f}")
        print(f"done: {step} steps, {recoveries} recoveries, restored from {restored}")
        deps.delete(args.deployment_id)
        jobs.delete(args.job_id)
        deps.close()
        jobs.close()
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()
    return {"rewards": rewards, "final_step": step, "recoveries": recoveries,
            "restored": restored}


if __name__ == "__main__":
    run()
