"""The `sft-drydock` workload's client: drydock.sdk's TrainerJobManager and TrainingClient, over
HTTP like the real SDK (their waits read and sleep the warped `time`, so they run virtual)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .workloads import WorkloadContext

__all__ = ["drydock_client"]


class _DrydockSession:
    def __init__(
        self, ctx: WorkloadContext, endpoint: Any, base_model: str, lora_rank: int
    ) -> None:
        from drydock.sdk import TrainingClient

        self.tc = TrainingClient.connect(
            endpoint, ctx.api_key, base_model=base_model, lora_rank=lora_rank
        )

    def step(self, seqs: list[list[int]], lr: float) -> float:
        from drydock.sdk import AdamParams, Datum

        out = self.tc.forward_backward([Datum.from_tokens(s) for s in seqs], "cross_entropy")
        self.tc.optim_step(AdamParams(learning_rate=lr))
        return out.loss / sum(len(s) - 1 for s in seqs)

    def save(self, name: str) -> str:
        return self.tc.save_state(name)

    def load(self, name: str) -> None:
        self.tc.load_state_with_optimizer(name)

    def close(self) -> None:
        try:
            self.tc.close()
        except Exception:  # a dead trainer's session: nothing to tidy
            pass


class _Manager:
    """drydock.sdk's manager, taking a scenario JobDecl where the real SDK takes its config."""

    def __init__(self, ctx: WorkloadContext) -> None:
        from drydock.sdk import TrainerJobManager

        self.mgr = TrainerJobManager(api_key=ctx.api_key, base_url=ctx.base_url)

    def create_and_wait(self, job: Any, **kwargs: Any) -> Any:
        from drydock.sdk import TrainerJobConfig

        cfg = TrainerJobConfig(
            base_model=job.base_model,
            lora_rank=job.lora_rank,
            learning_rate=job.learning_rate,
            requested_job_id=job.id,
            training_shape_ref=job.shape,
            max_context_length=job.max_context_length,
            accelerator_type=None if job.shape else job.accelerator_type,
            accelerator_count=None if job.shape else job.accelerator_count,
            node_count=None if job.shape else job.node_count,
            region=job.region,
            display_name=job.display_name,
            preemptible=job.preemptible,
        )
        return self.mgr.create_and_wait(cfg, **kwargs)

    def __getattr__(self, name: str) -> Any:  # reconnect_and_wait, delete, close, ...
        return getattr(self.mgr, name)


def drydock_client(ctx: WorkloadContext, job: Any) -> tuple[Any, Callable, Callable]:
    mgr = _Manager(ctx)
    connect = lambda ep: _DrydockSession(ctx, ep, job.base_model, job.lora_rank)
    rows = lambda: [dict(r) for r in mgr.list_checkpoints(job.id)]
    return mgr, connect, rows
