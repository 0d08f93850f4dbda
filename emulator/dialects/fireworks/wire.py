"""Fireworks control-plane wire models (camelCase, as the real service and SDK spell them).

Request bodies are strict: unknown keys and wrong types are rejected with 400 INVALID_ARGUMENT,
as the real gRPC-gateway front end does, so nothing malformed reaches the core.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ...clock import rfc3339
from ...control_plane import CheckpointRecord, ControlPlane, Job, JobSpec, ModelRecord
from ...errors import InvalidArgument
from ...shapes import TrainingShape, TrainingShapeVersion
from .validation import (base_model_error, display_name_error, infra_count_error, job_id_error,
                           learning_rate_error, lora_rank_error, max_context_length_error,
                           shape_ref_error)

__all__ = [
    "CreateJobBody",
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

_DURATION_RE = re.compile(r"^(\d+(\.\d+)?)s$")


class _Body(BaseModel):
    # allow_inf_nan=False: Infinity/NaN (or 1e400) would be stored, then break every JSON reply.
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class TrainingConfigBody(_Body):
    baseModel: str = Field(min_length=1)
    loraRank: int = 0
    learningRate: float = 1e-5
    projectionHeadDim: int | None = None
    maxContextLength: int | None = None
    customImageTag: str | None = None
    acceleratorType: str | None = None
    acceleratorCount: int | None = None
    region: str | None = None
    extraArgs: list[str] | None = None


class CreateJobBody(_Body):
    serviceMode: bool = True
    keepAlive: bool = False
    dataset: str = ""
    trainingConfig: TrainingConfigBody
    trainerReplicaCount: int | None = None
    useReservation: bool | None = None
    reservationTarget: str | None = None
    nodeCount: int | None = None
    displayName: str | None = None
    hotLoadDeploymentId: str | None = None
    extraValues: dict[str, str] | None = None
    forwardOnly: bool | None = None
    purpose: str | None = None
    preemptible: bool | None = None
    managedBy: str | None = None
    inactivityTimeout: str | None = None
    disableInactivityCleanup: bool | None = None


class PromoteBody(_Body):
    output_model: str = Field(min_length=1)
    trainer_job_id: str | None = None
    base_model: str = Field(min_length=1)
    async_promotion: bool | None = None
    hot_load_deployment_id: str | None = None


def parse_body(raw: bytes, model: type[BaseModel]) -> BaseModel:
    """JSON bytes -> model, or InvalidArgument naming the field and the problem."""
    if not raw.strip():
        raise InvalidArgument("request body is empty; expected a JSON object")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "body"
            if err["type"] == "extra_forbidden":
                problems.append(f'unknown field "{where}"')
            elif err["type"] == "json_invalid":
                problems.append(f"malformed JSON: {err['msg']}")
            elif err["type"] == "missing":
                problems.append(f'missing required field "{where}"')
            else:
                problems.append(f'invalid value for "{where}": {err["msg"]}')
        raise InvalidArgument("invalid request: " + "; ".join(problems)) from None


def _duration_s(value: str | None) -> float | None:
    if value is None:
        return None
    m = _DURATION_RE.match(value)
    if not m:
        raise InvalidArgument(f'invalid value for "inactivityTimeout": {value!r} is not a duration like "1800s"')
    return float(m.group(1))


def spec_from_body(body: CreateJobBody, training_shape: str | None, skip_validations: bool,
                   job_id: str | None = None) -> JobSpec:
    """The core's job spec, after every check the service makes on a create request (in the
    order it makes them: the first problem is the one reported)."""
    tc = body.trainingConfig
    checks = [display_name_error(body.displayName),
              job_id_error(job_id) if job_id is not None else None, lora_rank_error(tc.loraRank),
              learning_rate_error(tc.learningRate), max_context_length_error(tc.maxContextLength),
              base_model_error(tc.baseModel)]
    if training_shape:
        checks.append(shape_ref_error(training_shape))
    else:
        checks.append(infra_count_error(tc.acceleratorCount, body.nodeCount))
    for problem in checks:
        if problem:
            raise InvalidArgument(problem)
    return JobSpec(
        base_model=tc.baseModel,
        lora_rank=tc.loraRank,
        learning_rate=tc.learningRate,
        max_context_length=tc.maxContextLength,
        training_shape=training_shape,
        node_count=body.nodeCount,
        accelerator_type=tc.acceleratorType,
        accelerator_count=tc.acceleratorCount,
        region=tc.region,
        display_name=body.displayName or "",
        forward_only=bool(body.forwardOnly),
        preemptible=bool(body.preemptible),
        inactivity_timeout_s=_duration_s(body.inactivityTimeout),
        skip_validations=skip_validations,
    )


def job_state_name(job: Job) -> str:
    return f"JOB_STATE_{job.state.value}" if job.state else "JOB_STATE_UNSPECIFIED"


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
    echo.update({
        "name": job_resource_name(job.account, job.id),
        "state": job_state_name(job),
        "status": {"code": job.status_code, "message": job.status_message},
        "createTime": rfc3339(job.create_time),
        "updateTime": rfc3339(job.update_time),
        "nodeCount": job.node_count,
    })
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
        out["peftDetails"] = {"baseModel": rec.base_model, "r": rec.lora_rank,
                              "targetModules": ["q_proj", "k_proj", "v_proj", "o_proj",
                                                "gate_proj", "up_proj", "down_proj"]}
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
