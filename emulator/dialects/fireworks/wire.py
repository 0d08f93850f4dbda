"""The Fireworks dialect's translation between its wire and the core.

Bodies, rules and state names come from `drydock.wire.fireworks`, which drydock.sdk shares.
Request bodies are strict: unknown keys and wrong types are rejected with 400 INVALID_ARGUMENT,
as the real gRPC-gateway front end does, so nothing malformed reaches the core.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

from drydock.wire import fireworks as fw
from drydock.wire.fireworks import CreateJobBody, PromoteBody, TrainingConfigBody

from ...clock import rfc3339
from ...control_plane import CheckpointRecord, ControlPlane, Job, JobSpec, ModelRecord
from ...errors import InvalidArgument
from ...shapes import TrainingShape, TrainingShapeVersion

__all__ = [
    "CreateJobBody",
    "TrainingConfigBody",
    "PromoteBody",
    "parse_body",
    "job_to_wire",
    "spec_from_body",
    "checkpoint_to_wire",
    "model_to_wire",
    "base_model_to_wire",
    "shape_version_to_wire",
    "job_state_name",
    "job_resource_name",
    "model_resource_name",
]

B = TypeVar("B", bound=BaseModel)


class _Body(BaseModel):
    """Strict request bodies of the dialect's own routes (deployments): restored after the
    wire-package merge dropped it while deployments.py still imports it."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


# Bounds a server left running needs (each a 400, before anything is stored).
MAX_LORA_RANK = 512
MAX_CONTEXT_LENGTH = 1 << 20
MAX_TRAINER_REPLICAS = 64
MAX_EXTRA_VALUES, MAX_EXTRA_VALUE_CHARS = 64, 4096


def bounds_error(body: CreateJobBody) -> str | None:
    """The first numeric or size bound the create body breaks, or None."""
    tc = body.training_config
    if tc.lora_rank > MAX_LORA_RANK:
        return f"lora_rank must be <= {MAX_LORA_RANK}, got {tc.lora_rank}"
    if (tc.max_context_length or 0) > MAX_CONTEXT_LENGTH:
        return f"max_context_length must be <= {MAX_CONTEXT_LENGTH}, got {tc.max_context_length}"
    replicas = body.trainer_replica_count
    if replicas is not None and not 0 <= replicas <= MAX_TRAINER_REPLICAS:
        return f"trainerReplicaCount must be between 0 and {MAX_TRAINER_REPLICAS}, got {replicas}"
    extra = body.extra_values or {}
    if len(extra) > MAX_EXTRA_VALUES or any(
        len(k) > MAX_EXTRA_VALUE_CHARS or len(v) > MAX_EXTRA_VALUE_CHARS for k, v in extra.items()
    ):
        return (
            f"extraValues may hold at most {MAX_EXTRA_VALUES} entries, keys and values of at "
            f"most {MAX_EXTRA_VALUE_CHARS} characters"
        )
    return None


def parse_body(raw: bytes, model: type[B]) -> B:
    """JSON bytes -> model (drydock.wire.fireworks), or InvalidArgument naming each problem."""
    try:
        return fw.parse_body(raw, model)
    except fw.WireBodyError as exc:
        raise InvalidArgument(str(exc)) from None


def spec_from_body(
    body: CreateJobBody,
    training_shape: str | None,
    skip_validations: bool,
    job_id: str | None = None,
) -> JobSpec:
    """The core's job spec, after every check the service makes on a create request (in the
    order it makes them: the first problem is the one reported)."""
    tc = body.training_config
    checks = [
        fw.display_name_error(body.display_name),
        fw.job_id_error(job_id) if job_id is not None else None,
        fw.lora_rank_error(tc.lora_rank),
        fw.learning_rate_error(tc.learning_rate),
        fw.max_context_length_error(tc.max_context_length),
        fw.base_model_error(tc.base_model),
        fw.shape_ref_error(training_shape)
        if training_shape
        else fw.infra_count_error(tc.accelerator_count, body.node_count),
        fw.inactivity_timeout_error(body.inactivity_timeout, "inactivityTimeout"),
        fw.gradient_accumulation_steps_error(tc.gradient_accumulation_steps),
        bounds_error(body),
    ]
    for problem in checks:
        if problem:
            raise InvalidArgument(problem)
    timeout = body.inactivity_timeout
    return JobSpec(
        base_model=tc.base_model,
        lora_rank=tc.lora_rank,
        learning_rate=tc.learning_rate,
        max_context_length=tc.max_context_length,
        training_shape=training_shape,
        node_count=body.node_count,
        accelerator_type=tc.accelerator_type,
        accelerator_count=tc.accelerator_count,
        region=tc.region,
        display_name=body.display_name or "",
        forward_only=bool(body.forward_only),
        preemptible=bool(body.preemptible),
        inactivity_timeout_s=fw.duration_seconds(timeout) if timeout is not None else None,
        skip_validations=skip_validations,
        gradient_accumulation_steps=tc.gradient_accumulation_steps or 1,
    )


def job_state_name(job: Job) -> str:
    return fw.job_state_name(job.state.value if job.state else None)


def job_resource_name(account: str, job_id: str) -> str:
    return f"accounts/{account}/rlorTrainerJobs/{job_id}"


def model_resource_name(account: str, model_id: str) -> str:
    return f"accounts/{account}/models/{model_id}"


def job_to_wire(job: Job) -> dict[str, Any]:
    """The job as the real service returns it: the create body echoed, plus server fields."""
    echo = {k: v for k, v in job.payload.get("body", {}).items()}
    tc = dict(echo.get("trainingConfig", {}))
    tc.setdefault("baseModel", job.spec.base_model)
    tc.setdefault("loraRank", job.spec.lora_rank)
    tc.setdefault("learningRate", job.spec.learning_rate)
    tc["maxContextLength"] = job.max_context_length
    if job.shape_version_name:
        tc["trainingShape"] = job.shape_version_name
        tc["acceleratorType"] = job.accelerator_type
        tc["acceleratorCount"] = job.shape_version.accelerator_count if job.shape_version else 0
    tc.setdefault("region", job.region)
    echo["trainingConfig"] = tc
    echo.update(
        {
            "name": job_resource_name(job.account, job.id),
            "state": job_state_name(job),
            "status": {"code": job.status_code, "message": job.status_message},
            "createTime": rfc3339(job.create_time),
            "updateTime": rfc3339(job.update_time),
            "nodeCount": job.node_count,
        }
    )
    if job.status_message:
        echo["statusMessage"] = job.status_message
    echo.setdefault("serviceMode", True)
    return echo


def checkpoint_to_wire(rec: CheckpointRecord) -> dict[str, Any]:
    return {
        "name": f"accounts/{rec.account}/rlorTrainerJobs/{rec.job}/checkpoints/{rec.name}",
        "createTime": rfc3339(rec.create_time),
        "updateTime": rfc3339(rec.update_time),
        "checkpointType": f"CHECKPOINT_TYPE_{rec.kind}",
        "promotable": rec.promotable,
    }


def model_to_wire(rec: ModelRecord, cp: ControlPlane) -> dict[str, Any]:
    base = cp.catalog.model(rec.base_model)
    out: dict[str, Any] = {
        "name": rec.name,
        "displayName": rec.id,
        "state": rec.state,
        "kind": rec.kind,
        "createTime": rfc3339(rec.create_time),
        "baseModelDetails": {"moe": base.moe, "parameterCount": str(base.parameter_count)},
        "contextLength": base.context_length,
    }
    if rec.kind == "HF_PEFT_ADDON":
        out["peftDetails"] = {
            "baseModel": rec.base_model,
            "r": rec.lora_rank,
            "targetModules": [
                "q_proj",
                "k_proj",
                "v_proj",
                "o_proj",
                "gate_proj",
                "up_proj",
                "down_proj",
            ],
        }
    return out


def base_model_to_wire(name: str, cp: ControlPlane) -> dict[str, Any]:
    m = cp.catalog.model(name)
    return {
        "name": m.name,
        "displayName": m.display_name,
        "state": "READY",
        "kind": "HF_BASE_MODEL",
        "public": True,
        "contextLength": m.context_length,
        "baseModelDetails": {"moe": m.moe, "parameterCount": str(m.parameter_count)},
    }


def shape_version_to_wire(shape: TrainingShape, v: TrainingShapeVersion) -> dict[str, Any]:
    return {
        "name": f"{shape.name}/versions/{v.version}",
        "latestValidated": v.latest_validated,
        "snapshot": {
            "baseModel": shape.base_model,
            "trainerImageTag": v.trainer_image_tag,
            "maxSupportedContextLength": v.max_supported_context_length,
            "nodeCount": v.node_count,
            "deploymentShapeVersion": v.deployment_shape_version,
            "deploymentImageTag": v.deployment_image_tag,
            "acceleratorType": v.accelerator_type,
            "acceleratorCount": v.accelerator_count,
            "baseModelWeightPrecision": v.base_model_weight_precision,
            "trainerShardingScheme": {"pipelineParallelism": v.pipeline_parallelism},
            "trainerMode": v.trainer_mode,
        },
    }
