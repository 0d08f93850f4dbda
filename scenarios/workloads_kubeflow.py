"""The `kubeflow-trainjob` workload: the real kubeflow SDK's `TrainerClient` (Kubernetes
backend) trains each workload job with a CustomTrainer on drydock's `/k8s` dialect and checks
what `wait_for_job_status` reports.

Jobs use the placeholder model `kubeflow-trainjob`; `node_count` is the TrainJob's num_nodes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .workloads import register_workload

if TYPE_CHECKING:
    from collections.abc import Callable

    from .workloads import WorkloadContext

__all__ = ["KubeflowParams", "kubeflow_trainjob", "KUBEFLOW_EVENT_KINDS"]

#: What this workload logs beyond the common `workload.*` kinds (the dialect's Kubernetes
#: Events are `kubeflow.event`, declared by the dialect).
KUBEFLOW_EVENT_KINDS: tuple[str, ...] = tuple(
    f"workload.{k}" for k in ("train", "reached", "logs", "wait_raised", "events", "delete_failed")
)


class KubeflowParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    runtime: str = Field("torch-distributed", description="ClusterTrainingRuntime name")
    function: Literal["allreduce", "until_evicted", "fail"] = Field(
        "allreduce",
        description="allreduce: one gloo all_reduce; until_evicted: the first "
        "attempt waits to be evicted, a restart finishes; fail: raises",
    )
    expect: Literal["Complete", "Failed"] = Field(
        "Complete", description="what wait_for_job_status must report"
    )
    polling_interval_s: float = Field(2.0, gt=0)
    timeout_s: float = Field(600.0, gt=0)
    delete_at_end: bool = True


# Only a function's own source reaches the pods: imports inside, no backticks or dollars.
def allreduce():
    import os

    import torch
    import torch.distributed as dist

    dist.init_process_group("gloo")
    t = torch.tensor([float(dist.get_rank() + 1)])
    dist.all_reduce(t)
    print(f"rank {os.environ['RANK']} of {os.environ['WORLD_SIZE']}: sum {t.item():.0f}")
    dist.destroy_process_group()


def until_evicted(gate: str) -> None:
    import os
    import time

    print(f"rank {os.environ['RANK']} training", flush=True)
    for _ in range(12000):
        if os.path.exists(gate):
            print(f"rank {os.environ['RANK']} finished")
            return
        time.sleep(0.01)
    raise SystemExit("never released")


def fail() -> None:
    print("step 1: loss nan")
    raise FloatingPointError("loss is NaN at step 1")


@register_workload(
    "kubeflow-trainjob",
    KubeflowParams,
    event_kinds=KUBEFLOW_EVENT_KINDS,
    description=(
        "kubeflow SDK TrainerClient (Kubernetes backend on /k8s): train() each job with a "
        "CustomTrainer (num_nodes = node_count), wait_for_job_status, check it reports `expect`, "
        "delete the jobs at the end."
    ),
)
def kubeflow_trainjob(ctx: WorkloadContext, p: KubeflowParams) -> None:
    import tempfile

    from kubeflow.trainer import CustomTrainer
    from kubeflow.trainer.options import Name

    from drydock.emulator.dialects.kubeflow import kubernetes_datetimes, trainer_client

    client = trainer_client(ctx.base_url, ctx.api_key)
    with tempfile.TemporaryDirectory(prefix="drydock-kf-gates-") as gates, kubernetes_datetimes():
        runtime = client.get_runtime(p.runtime)
        try:
            for job in ctx.jobs:
                gate = f"{gates}/{job.id}"
                functions: dict[str, tuple[Callable[..., None], dict[str, str] | None]] = {
                    "allreduce": (allreduce, None),
                    "fail": (fail, None),
                    "until_evicted": (until_evicted, {"gate": gate}),
                }
                func, args = functions[p.function]
                client.train(
                    runtime=runtime,
                    options=[Name(job.id)],
                    trainer=CustomTrainer(func=func, func_args=args, num_nodes=job.node_count or 1),
                )
                ctx.log("train", job.id, runtime=p.runtime, num_nodes=job.node_count or 1)
            for job in ctx.jobs:
                _wait(ctx, client, job.id, p, f"{gates}/{job.id}")
        finally:
            if p.delete_at_end:
                for job in ctx.jobs:
                    try:
                        client.delete_job(job.id)
                        ctx.log("delete", job.id)
                    except RuntimeError as exc:
                        ctx.log("delete_failed", job.id, error=str(exc))


def _wait(ctx: WorkloadContext, client: Any, name: str, p: KubeflowParams, gate: str) -> None:
    def release_after_restart(trainjob: Any) -> None:
        # The evicted attempt is gone once the JobSet restarts: let the new one finish.
        if p.function == "until_evicted" and any(
            e.reason == "Restarting" for e in client.get_job_events(name)
        ):
            open(gate, "a").close()

    try:
        job = client.wait_for_job_status(
            name,
            timeout=int(p.timeout_s),
            polling_interval=int(p.polling_interval_s),
            callbacks=[release_after_restart],
        )
    except RuntimeError as exc:
        if p.expect == "Failed" and str(exc) == f"TrainJob {name} is Failed":
            ctx.log("wait_raised", name, error=str(exc))
            reasons = [e.reason for e in client.get_job_events(name)]
            ctx.log("events", name, reasons=reasons)
            return
        raise
    ctx.log("reached", name, status=job.status, steps=[f"{s.name}:{s.status}" for s in job.steps])
    if p.expect != job.status:
        raise AssertionError(f"TrainJob {name} reached {job.status}, expected {p.expect}")
    lines = list(client.get_job_logs(name))
    ctx.log("logs", name, lines=lines)
