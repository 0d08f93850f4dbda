"""SageMaker workloads: the real sagemaker 3.27.0 SDK's fine-tuning trainers against the
scenario's emulator, through the SageMaker dialect's AWS endpoint (SageMaker + moto + MLflow).

* `sagemaker-sft`: one SFTTrainer job (serverless or on an instance type) with `wait=True`,
  reporting the job's final primary and secondary status and its secondary-status steps as a
  `workload.sagemaker_result` event. A Failed job (FailedStatusError) is the run's error.

Needs the `.venv-sagemaker` environment (scripts/setup.sh); the SDK is imported on first use.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import Field

from .workloads import WorkloadContext, _Params, register_workload

__all__ = ["SageMakerSftParams", "preload_c_extensions"]

_BUCKET = "drydock-scenario-data"


def preload_c_extensions() -> None:
    """Import pandas now, outside any virtual-time warp: the SDK imports it lazily, and a
    Cython module built on the datetime C-API imported while freezegun has swapped in its fake
    datetime classes crashes the interpreter (a segfault seen in `drydock run`)."""
    from importlib.util import find_spec

    if find_spec("sagemaker") is not None and find_spec("pandas") is not None:
        import pandas  # type: ignore[import-untyped]  # noqa: F401


preload_c_extensions()  # the runner loads workloads before it warps time


class SageMakerSftParams(_Params):
    model: str = Field("huggingface-llm-qwen3-0-6b", description="public-hub model name")
    compute: Literal["serverless", "instance"] = "serverless"
    instance_type: str = "ml.g5.2xlarge"
    records: int = Field(16, ge=1, description="rows of the synthetic SFT dataset")
    max_steps: int = Field(8, ge=1)
    save_steps: int = Field(4, ge=1)
    max_wait_s: int | None = Field(None, ge=1, description="StoppingCondition.MaxWaitTimeInSeconds")
    max_runtime_s: int = Field(86400, ge=1)
    poll_s: int = Field(30, ge=1, description="train(poll=...): the SDK's sleep between Describes")


@register_workload(
    "sagemaker-sft",
    SageMakerSftParams,
    needs_trainer=True,
    event_kinds=("workload.sagemaker_result",),
    requires={"sagemaker": "sagemaker", "moto": "sagemaker"},
    description=(
        "sagemaker 3.27.0 SFTTrainer.train(wait=True) on a public-hub model (serverless "
        "or instance type) through the SageMaker dialect's AWS endpoint; reports the "
        "final status and secondary-status steps."
    ),
)
def sagemaker_sft(ctx: WorkloadContext, p: SageMakerSftParams) -> None:
    from drydock.emulator.dialects.sagemaker import DEFAULT_ROLE, AwsStack

    with AwsStack(emulator=ctx.emulator) as stack, stack.sdk_env():
        import boto3  # type: ignore[import-not-found]  # only in the sagemaker extra

        boto3.DEFAULT_SESSION = None  # a session cached from an earlier endpoint or region
        svc = stack.service
        rows = [{"prompt": f"Q{i}: {i}+{i}=", "completion": f" {2 * i}"} for i in range(p.records)]
        svc.store.put(
            f"s3://{_BUCKET}/sft/train.jsonl", "\n".join(json.dumps(r) for r in rows).encode()
        )
        svc.call("CreateModelPackageGroup", {"ModelPackageGroupName": "scenario"})
        from sagemaker.core.shapes import StoppingCondition  # type: ignore[import-not-found]
        from sagemaker.core.utils.exceptions import FailedStatusError  # type: ignore[import-not-found]
        from sagemaker.train import SFTTrainer  # type: ignore[import-not-found]

        kw = {}
        if p.compute == "instance":
            from sagemaker.core.training.configs import Compute  # type: ignore[import-not-found]

            kw["compute"] = Compute(instance_type=p.instance_type, instance_count=1)
        else:
            kw["model_package_group"] = "scenario"
            kw["mlflow_resource_arn"] = (
                f"arn:aws:sagemaker:{svc.region}:123456789012:mlflow-app/app-scenario"
            )
        if p.max_wait_s:
            kw["stopping_condition"] = StoppingCondition(
                max_runtime_in_seconds=p.max_runtime_s, max_wait_time_in_seconds=p.max_wait_s
            )
        trainer = SFTTrainer(
            model=p.model,
            training_dataset=f"s3://{_BUCKET}/sft/train.jsonl",
            s3_output_path=f"s3://{_BUCKET}/out",
            role=DEFAULT_ROLE,
            accept_eula=True,
            **kw,
        )
        trainer.hyperparameters.max_steps = p.max_steps
        trainer.hyperparameters.save_steps = p.save_steps
        try:
            job = trainer.train(wait=True, poll=p.poll_s)
        except FailedStatusError as exc:
            ctx.log("sagemaker_result", status="Failed", error=str(exc)[:300])
            raise
        job.refresh()
        rec = svc.jobs[job.training_job_name]
        ctx.log(
            "sagemaker_result",
            rec.core_id,
            training_job=job.training_job_name,
            status=job.training_job_status,
            secondary=job.secondary_status,
            steps=[t.status for t in job.secondary_status_transitions],
            model_artifacts=job.model_artifacts.s3_model_artifacts if job.model_artifacts else None,
        )
