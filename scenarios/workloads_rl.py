"""RL workloads: a GRPO-style loop on a trainer job and a rollout deployment, through the real
fireworks-ai SDK (TrainerJobManager, DeploymentManager, WeightSyncer, DeploymentSampler).

* `rl-fireworks`: each step samples `group_size` completions per prompt from the deployment,
  scores them (share of even token ids), trains with `importance_sampling` on the sampler's
  logprobs, and syncs the weights to the deployment (`save_and_hotload`: base first, deltas
  after). A failed hot-load is retried (`WeightSyncer.hotload`) up to `hot_load_retries` times.
  When the trainer fails (preemption), the loop first samples from the deployment, which keeps
  serving the last snapshot, then reconnects, loads the newest `save_state`, and starts a new
  weight-sync chain (a base snapshot).

* `rl-weight-sync`: the same loop on the SDK-managed path (`FiretitanServiceClient.
  from_firetitan_config` provisions the trainer and the deployment), publishing each step with
  `weight_sync()` (RDMA on both sides: the scenario sets `dialects: {fireworks:
  {rdma_weight_sync: true}}`). A failed publication is retried (a new weight_sync) up to
  `sync_retries` times; after each, the deployment must serve the version just published.

Determinism: samples are drawn one request at a time with seeds derived from the step, and each
training client's session id (the suffix of its snapshot names) is derived from the scenario seed,
so a scenario's event log replays byte for byte.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from pydantic import Field

from .workloads import WorkloadContext, _Params, fireworks_config, reconnect, register_workload

if TYPE_CHECKING:
    from fireworks.training.sdk.deployment import DeploymentManager
    from fireworks.training.sdk.trainer import TrainerJobManager

    from .spec import JobDecl

__all__ = ["RlParams", "WeightSyncParams"]

_RESULT_TIMEOUT_S = 120.0  # real seconds: a guard against a wedged future, never hit normally


class _LoopParams(_Params):
    steps: int = Field(8, ge=1, description="optimizer steps to finish")
    deployment_id: str = Field("rl-rollout", description="the rollout deployment to create")
    deployment_shape: str = (
        "accounts/fireworks/deploymentShapes/qwen3-0p6b-32k-h100-deploy/versions/1"
    )
    prompts: list[list[int]] = Field(default_factory=lambda: [[1, 2, 3], [5, 8, 13]])
    group_size: int = Field(4, ge=2)
    max_tokens: int = Field(6, ge=1)
    learning_rate: float = Field(2e-2, gt=0)


class WeightSyncParams(_LoopParams):
    sync_retries: int = Field(2, ge=0, description="weight_sync attempts after a failed one")
    step_time_s: float = Field(30.0, ge=0, description="virtual seconds each step takes")


class RlParams(_LoopParams):
    save_every: int = Field(2, ge=1, description="save_state every k steps")
    step_time_s: float = Field(30.0, ge=0, description="virtual seconds each step takes")
    hot_load_retries: int = Field(2, ge=0)
    max_reconnects: int = Field(3, ge=0)
    poll_interval_s: float = Field(5.0, gt=0)
    timeout_s: float = Field(900.0, gt=0)


def _reward(completion: list[int]) -> float:
    return sum(t % 2 == 0 for t in completion) / max(len(completion), 1)


def _sample_groups(
    loop: asyncio.AbstractEventLoop, sampler: Any, p: _LoopParams, step: int
) -> list[tuple[Any, float]]:
    """`group_size` completions per prompt, one request at a time with seeds from the step."""
    out = []
    for pi, prompt in enumerate(p.prompts):
        for i in range(p.group_size):
            s = loop.run_until_complete(
                sampler.sample_with_prompt_tokens(
                    prompt,
                    n=1,
                    max_tokens=p.max_tokens,
                    temperature=1.0,
                    logprobs=True,
                    seed=step * 1000 + pi * 100 + i,
                )
            )[0]
            out.append((s, _reward(s.full_tokens[s.prompt_len :])))
    return out


def _train_groups(tc: Any, samples: list[tuple[Any, float]], p: _LoopParams) -> float:
    """One importance_sampling step on group-normalized rewards; the mean reward."""
    import fireworks.training.sdk as fw

    g, data = p.group_size, []
    for k in range(0, len(samples), g):
        group = samples[k : k + g]
        mean = sum(r for _, r in group) / g
        for s, r in group:
            n, c = s.prompt_len, s.completion_len
            data.append(
                fw.Datum(
                    model_input=fw.ModelInput.from_ints(s.full_tokens[:-1]),
                    loss_fn_inputs={
                        "target_tokens": s.full_tokens[1:],
                        "logprobs": [0.0] * (n - 1) + list(s.sampling_logprobs),
                        "advantages": [0.0] * (n - 1) + [r - mean] * c,
                    },
                )
            )
    tc.forward_backward(data, "importance_sampling").result(timeout=_RESULT_TIMEOUT_S)
    tc.optim_step(fw.AdamParams(learning_rate=p.learning_rate)).result(timeout=_RESULT_TIMEOUT_S)
    return sum(r for _, r in samples) / len(samples)


class _Rollout:
    """One training client + its weight syncer + the deployment's sampler."""

    restored_step: int  # set by `_recover` on the rollout it builds after a reconnect

    def __init__(
        self,
        ctx: WorkloadContext,
        ep: Any,
        deps: Any,
        p: RlParams,
        base: str,
        n: int,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        import fireworks.training.sdk as fw
        from fireworks.training.sdk.weight_syncer import WeightSyncer

        self.fw, self.p, self.loop, self.ctx = fw, p, loop, ctx
        self.svc = fw.FiretitanServiceClient(base_url=ep.base_url, api_key=ctx.api_key)
        self.tc = self.svc.create_training_client(base_model=base, lora_rank=0)
        # Snapshot names end in the client's session id: pin it, so logs replay identically.
        self.tc.session_id = f"{(ctx.scenario.seed * 7919 + n) % 16**8:08x}"
        self.syncer = WeightSyncer(
            policy_client=self.tc, deploy_mgr=deps, deployment_id=p.deployment_id, base_model=base
        )
        self.sampler = self.syncer.get_deployment_sampler()

    def sample(self, step: int) -> list[tuple[Any, float]]:
        return _sample_groups(self.loop, self.sampler, self.p, step)

    def train(self, samples: list[tuple[Any, float]]) -> float:
        return _train_groups(self.tc, samples, self.p)

    def sync(self, name: str, job_id: str) -> str | None:
        """save_and_hotload; a failed load is retried with `WeightSyncer.hotload`."""
        try:
            return self.syncer.save_and_hotload(name)
        except RuntimeError as exc:
            ident = f"{name}-{self.tc.session_id}"
            self.ctx.log(
                "hotload_failed",
                job_id,
                snapshot=ident,
                error=self.ctx.clean(str(exc)).splitlines()[0][:200],
            )
            kind = "delta" if self.syncer.base_identity else "base"
            for attempt in range(1, self.p.hot_load_retries + 1):
                if self.syncer.hotload(ident, kind):
                    self.ctx.log("hotload_retried", job_id, snapshot=ident, attempt=attempt)
                    return ident
            raise

    def served_snapshot(self, deps: Any, base: str) -> str | None:
        return deps.hotload_check_status(self.p.deployment_id, base)["replicas"][0][
            "current_snapshot_identity"
        ]

    def close(self) -> None:
        try:
            self.svc.close()
        except Exception:  # a dead trainer's session: nothing to tidy
            pass


def _newest_state(rows: list[dict]) -> tuple[str | None, int]:
    names = [
        r["name"].rsplit("/", 1)[-1]
        for r in rows
        if str(r.get("checkpointType", "")).endswith("TRAINING")
    ]
    return (names[-1], int(names[-1].rsplit("-", 1)[1])) if names else (None, 0)


@register_workload(
    "rl-fireworks",
    RlParams,
    needs_trainer=True,
    event_kinds=tuple(
        f"workload.{k}"
        for k in ("synced", "hotload_failed", "hotload_retried", "served_during_outage")
    ),
    description=(
        "GRPO-style RL through the real fireworks-ai SDK: sample groups from a rollout deployment, "
        "train with importance_sampling, sync weights (WeightSyncer base then delta); retries failed "
        "hot-loads; on a trainer failure samples the still-serving deployment, then reconnects, "
        "restores the newest state and starts a new weight-sync chain."
    ),
)
def rl_fireworks(ctx: WorkloadContext, p: RlParams) -> None:
    from fireworks.training.sdk.deployment import DeploymentConfig, DeploymentManager
    from fireworks.training.sdk.trainer import TrainerJobManager

    if len(ctx.jobs) != 1:
        raise ValueError(f"rl-fireworks trains one job; the scenario declares {len(ctx.jobs)}")
    job = ctx.jobs[0]
    jobs = TrainerJobManager(api_key=ctx.api_key, base_url=ctx.base_url)
    deps = DeploymentManager(api_key=ctx.api_key, base_url=ctx.base_url)
    loop = asyncio.new_event_loop()
    budget, sessions = [p.max_reconnects], 0
    roll = None
    try:
        ctx.log("create", job.id)
        ep = jobs.create_and_wait(
            fireworks_config(job), poll_interval_s=p.poll_interval_s, timeout_s=p.timeout_s
        )
        deps.create_or_get(
            DeploymentConfig(
                deployment_id=p.deployment_id,
                base_model=job.base_model,
                deployment_shape=p.deployment_shape,
                min_replica_count=1,
                max_replica_count=1,
                hot_load_trainer_job=ep.job_name,
            )
        )
        deps.wait_for_ready(p.deployment_id, poll_interval_s=p.poll_interval_s)
        ctx.log("ready", job.id, deployment=p.deployment_id)
        roll = _Rollout(ctx, ep, deps, p, job.base_model, sessions, loop)
        ctx.log("synced", job.id, snapshot=roll.sync("step-0", job.id))
        step = 0
        while step < p.steps:
            samples = roll.sample(step)
            try:
                mean = roll.train(samples)
                step += 1
                ctx.log("step", job.id, step=step, reward=round(mean, 6))
                if step % p.save_every == 0:
                    roll.tc.save_state(f"state-{step}").result(timeout=_RESULT_TIMEOUT_S)
                    ctx.log("saved", job.id, name=f"state-{step}", step=step)
                ctx.log("synced", job.id, snapshot=roll.sync(f"step-{step}", job.id))
                if p.step_time_s:
                    time.sleep(p.step_time_s)
            except Exception as exc:  # preemption: a lost future, a dead trainer
                if "Hotload failed" in str(exc):
                    raise  # the retries of a failed hot-load are spent
                _recover_log(ctx, job.id, step, exc)
                sessions += 1
                roll = _recover(ctx, roll, jobs, deps, p, job, budget, sessions, loop)
                step = roll.restored_step
        ctx.log("trained", job.id, steps=step)
    finally:
        if roll is not None:
            roll.close()
        deps.delete(p.deployment_id)
        jobs.delete(job.id)
        ctx.log("delete", job.id)
        deps.close()
        jobs.close()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def _recover_log(ctx: WorkloadContext, job_id: str, step: int, exc: BaseException) -> None:
    ctx.log("interrupted", job_id, step=step + 1, error=ctx.error_line(exc, 160))


def _recover(
    ctx: WorkloadContext,
    roll: _Rollout,
    jobs: TrainerJobManager,
    deps: DeploymentManager,
    p: RlParams,
    job: JobDecl,
    budget: list[int],
    n: int,
    loop: asyncio.AbstractEventLoop,
) -> _Rollout:
    # The trainer is down; the deployment is not: it still serves the last snapshot.
    served = roll.served_snapshot(deps, job.base_model)
    s = roll.sample(10_000 + n)
    ctx.log("served_during_outage", job.id, snapshot=served, samples=len(s))
    roll.close()
    ep = reconnect(
        ctx,
        jobs,
        job.id,
        budget=budget,
        limit=p.max_reconnects,
        timeout_s=p.timeout_s,
        poll_interval_s=p.poll_interval_s,
    )
    new = _Rollout(ctx, ep, deps, p, job.base_model, n, loop)
    name, step = _newest_state(jobs.list_checkpoints(job.id))
    if name is not None:
        new.tc.load_state_with_optimizer(name).result(timeout=_RESULT_TIMEOUT_S)
    new.restored_step = step
    ctx.log("resumed", job.id, name=name, step=step)
    ctx.log("synced", job.id, snapshot=new.sync(f"resume-{step}", job.id))
    return new


@register_workload(
    "rl-weight-sync",
    WeightSyncParams,
    needs_trainer=True,
    event_kinds=tuple(f"workload.{k}" for k in ("synced", "sync_failed", "sync_retried")),
    description=(
        "RL on the SDK-managed path (from_firetitan_config provisions trainer and deployment), "
        "publishing each step with RDMA weight_sync(); retries a failed publication and checks "
        "the deployment serves each version it published. Needs dialects: {fireworks: "
        "{rdma_weight_sync: true}}."
    ),
)
def rl_weight_sync(ctx: WorkloadContext, p: WeightSyncParams) -> None:
    import fireworks.training.sdk as fw
    from fireworks.training.sdk.deployment import DeploymentManager
    from fireworks.training.sdk.trainer import TrainerJobManager

    if len(ctx.jobs) != 1:
        raise ValueError(f"rl-weight-sync trains one job; the scenario declares {len(ctx.jobs)}")
    job = ctx.jobs[0]
    loop = asyncio.new_event_loop()
    ctx.log("create", job.id)
    svc = fw.FiretitanServiceClient.from_firetitan_config(
        api_key=ctx.api_key,
        base_url=ctx.base_url,
        base_model=job.base_model,
        trainer_job_id=job.id,
        deployment_id=p.deployment_id,
        deployment_shape=p.deployment_shape,
        cleanup_deployment_on_close="delete",
    )
    try:
        tc = svc.create_training_client(base_model=job.base_model, lora_rank=0)
        tc.session_id = f"{ctx.scenario.seed * 7919 % 16**8:08x}"  # snapshot names replay
        base = tc.save_weights_for_sampler("base-0").result(timeout=_RESULT_TIMEOUT_S)
        svc.hotload_sampler_snapshot(base.path)
        ctx.log("ready", job.id, deployment=p.deployment_id)
        sampler = svc.create_deployment_sampler()
        deps = DeploymentManager(api_key=ctx.api_key, base_url=ctx.base_url)
        for step in range(1, p.steps + 1):
            mean = _train_groups(tc, _sample_groups(loop, sampler, p, step), p)
            ctx.log("step", job.id, step=step, reward=round(mean, 6))
            version = _publish(ctx, tc, p, job.id, step)
            served = deps.hotload_check_status(p.deployment_id, job.base_model)["replicas"][0]
            if served["current_snapshot_identity"] != version:
                raise RuntimeError(
                    f"step {step}: published {version} but the deployment serves "
                    f"{served['current_snapshot_identity']}"
                )
            ctx.log("synced", job.id, step=step, version=version)
            if p.step_time_s:
                time.sleep(p.step_time_s)
        ctx.log("trained", job.id, steps=p.steps)
    finally:
        svc.close()
        with TrainerJobManager(api_key=ctx.api_key, base_url=ctx.base_url) as jobs:
            jobs.delete(job.id)
        ctx.log("delete", job.id)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def _publish(ctx: WorkloadContext, tc: Any, p: WeightSyncParams, job_id: str, step: int) -> str:
    """weight_sync(); a failed publication is retried with a new one (a new version)."""
    for attempt in range(p.sync_retries + 1):
        try:
            version = str(tc.weight_sync().result(timeout=_RESULT_TIMEOUT_S).version)
        except Exception as exc:
            ctx.log("sync_failed", job_id, step=step, error=ctx.error_line(exc, 160, typed=False))
            if attempt == p.sync_retries:
                raise
            continue
        if attempt:
            ctx.log("sync_retried", job_id, step=step, attempt=attempt)
        return version
    raise AssertionError("unreachable")
