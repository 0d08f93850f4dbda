"""Typed models of drydock.sdk, field for field those of fireworks-ai 1.2.28's training SDK.

`TrainerJobConfig` builds the exact create request the real SDK sends (query order, JSON keys)
and validates itself first, with the service's own messages (drydock.wire.fireworks) for
what the service checks and the real SDK's messages for its client-only rules.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from drydock.wire import fireworks as fw
from drydock.wire.fireworks import RESUMABLE_STATES, STOPPED_STATES, TOMBSTONE_STATES

from ._status import job_status_message
from .errors import ConfigValidationError

__all__ = [
    "TrainerJobConfig",
    "CreatedTrainerJob",
    "TrainerServiceEndpoint",
    "TrainingShapeProfile",
    "JobInfo",
    "CheckpointInfo",
    "TOMBSTONE_STATES",
    "STOPPED_STATES",
    "RESUMABLE_STATES",
    "job_status_message",
    "new_trainer_job_id",
    "validate_output_model_id",
]


def new_trainer_job_id() -> str:
    """A client-generated id, `training-api-service-<8 hex>`, as the real SDK makes them."""
    return f"training-api-service-{uuid.uuid4().hex[:8]}"


def validate_output_model_id(output_model_id: str | None) -> list[str]:
    """Problems with a promote `output_model_id` (empty list = valid), real-SDK wording."""
    errors = []
    if not output_model_id:
        errors.append("output_model_id is required")
    elif not re.match(r"^[a-z0-9-]+$", output_model_id):
        errors.append(
            f"output_model_id '{output_model_id}' contains invalid characters. "
            "Must be lowercase a-z, 0-9, or hyphen."
        )
    if output_model_id and len(output_model_id) > 63:
        errors.append(
            f"output_model_id '{output_model_id}' is too long ({len(output_model_id)} "
            "chars). Maximum is 63 characters."
        )
    return errors


@dataclass
class TrainerServiceEndpoint:
    """A ready trainer: pass `base_url` to a training client."""

    job_name: str
    job_id: str
    base_url: str
    max_context_length: int | None = None


@dataclass
class CreatedTrainerJob:
    """What `create` returns at once."""

    job_name: str
    job_id: str


@dataclass
class TrainerJobConfig:
    """Configuration of a service-mode trainer job (the real SDK's fields and defaults).

    Launch paths: *shape* (`training_shape_ref` set; the shape owns accelerator and node
    fields), *auto* (`auto_select_training_shape`), else *manual*.
    """

    base_model: str
    lora_rank: int = 0
    projection_head_dim: int | None = None
    max_context_length: int | None = None
    learning_rate: float = 1e-5
    gradient_accumulation_steps: int = 1
    node_count: int | None = None
    trainer_replica_count: int | None = None
    display_name: str | None = None
    hot_load_deployment_id: str | None = None
    region: str | None = None
    custom_image_tag: str | None = None
    extra_args: list[str] | None = None
    extra_values: dict[str, str] | None = None
    accelerator_type: str | None = None
    accelerator_count: int | None = None
    training_shape_ref: str | None = None
    forward_only: bool = False
    auto_select_training_shape: bool = False
    inactivity_timeout: timedelta | str | None = None
    disable_inactivity_cleanup: bool = False
    skip_validations: bool = False
    purpose: str | None = None
    preemptible: bool = False
    managed_by: str | None = None
    requested_job_id: str | None = None
    use_reservation: bool = True
    reservation_target: str | None = None

    # ------------------------------------------------------------------ validation
    def problems(self) -> list[str]:
        """Everything wrong with this config, before any HTTP (empty list = valid)."""
        errors: list[str] = []
        if not self.base_model:
            errors.append("base_model is required")
        phd = self.projection_head_dim
        if isinstance(phd, bool) or (phd is not None and (not isinstance(phd, int) or phd < 0)):
            errors.append("projection_head_dim must be a non-negative integer when set")
        for problem in (
            fw.gradient_accumulation_steps_error(self.gradient_accumulation_steps),
            fw.inactivity_timeout_error(self.inactivity_timeout),
        ):
            if problem:
                errors.append(problem)
        if self.training_shape_ref and self.auto_select_training_shape:
            errors.append("training_shape_ref and auto_select_training_shape cannot both be set")
        if self.training_shape_ref or self.auto_select_training_shape:
            for name in fw.SHAPE_OWNED_FIELDS:
                val = getattr(self, name)
                if val is not None and val != "" and val != 0:
                    errors.append(
                        f"{name} cannot be set when training shape selection is enabled. "
                        "Remove it to use the selected shape's value, or disable "
                        "training shape selection for a manual launch."
                    )
        if self.base_model:  # the service's own checks, in its order and wording
            manual = not (self.training_shape_ref or self.auto_select_training_shape)
            errors.extend(
                fw.job_spec_errors(
                    base_model=self.base_model,
                    lora_rank=self.lora_rank,
                    learning_rate=self.learning_rate,
                    max_context_length=None if self.training_shape_ref else self.max_context_length,
                    display_name=self.display_name,
                    training_shape=self.training_shape_ref,
                    job_id=self.requested_job_id or None,
                    accelerator_count=self.accelerator_count if manual else None,
                    node_count=self.node_count if manual else None,
                )
            )
        return errors

    def validate(self) -> None:
        """Raise `ConfigValidationError` (a ValueError) listing every problem."""
        errors = self.problems()
        if errors:
            raise ConfigValidationError(errors)

    # ------------------------------------------------------------------ wire form
    def ensure_job_id(self) -> str:
        """Generate `requested_job_id` once and keep it, so a retried create reuses it."""
        if not self.requested_job_id:
            self.requested_job_id = new_trainer_job_id()
        return self.requested_job_id

    def create_query(self) -> list[tuple[str, str]]:
        """Query parameters of the create POST, in the real SDK's order."""
        q: list[tuple[str, str]] = []
        if self.hot_load_deployment_id:
            q.append(("deploymentId", self.hot_load_deployment_id))
        if self.training_shape_ref:
            q.append(("trainingShape", self.training_shape_ref))
            if self.skip_validations:
                q.append(("skipValidations", "true"))
        elif not self.auto_select_training_shape:
            q.append(("skipValidations", "true"))
        q.append(("rlorTrainerJobId", self.ensure_job_id()))
        return q

    def create_body(self) -> fw.CreateJobBody:
        """The create POST body as the wire model (raises ConfigValidationError, with the
        service's words, for a value of the wrong type)."""
        shape, auto = bool(self.training_shape_ref), bool(self.auto_select_training_shape)
        manual = not shape and not auto
        extra_args = None
        if self.extra_args:
            extra_args = [
                part for a in self.extra_args for part in (a.split() if " " in a else [a])
            ]
        steps = self.gradient_accumulation_steps
        tc = dict(
            base_model=self.base_model,
            lora_rank=self.lora_rank,
            learning_rate=self.learning_rate,
            projection_head_dim=self.projection_head_dim or None,
            max_context_length=None if shape else self.max_context_length,
            custom_image_tag=self.custom_image_tag or None,
            accelerator_type=(self.accelerator_type or None) if manual else None,
            accelerator_count=(self.accelerator_count or None) if manual else None,
            region=self.region or None,
            extra_args=extra_args,
            # 1 is the service's default: left out, so the request is the real SDK's.
            gradient_accumulation_steps=None if steps in (None, 1) else steps,
        )
        body = dict(
            training_config=tc,
            trainer_replica_count=self.trainer_replica_count,
            use_reservation=bool(self.use_reservation and not self.reservation_target),
            reservation_target=self.reservation_target or None,
            node_count=(self.node_count if self.node_count is not None else 1) if manual else None,
            display_name=self.display_name or None,
            hot_load_deployment_id=self.hot_load_deployment_id or None,
            extra_values=dict(self.extra_values) if self.extra_values else None,
            forward_only=True if self.forward_only else None,
            purpose=self.purpose or None,
            preemptible=True if self.preemptible else None,
            managed_by=self.managed_by or None,
            inactivity_timeout=(
                fw.format_duration(self.inactivity_timeout)
                if self.inactivity_timeout is not None
                else None
            ),
            disable_inactivity_cleanup=True if self.disable_inactivity_cleanup else None,
        )
        try:
            return fw.CreateJobBody.model_validate(body, by_name=True)
        except ValidationError as exc:
            raise ConfigValidationError(fw.body_problems(exc, fw.CreateJobBody)) from None

    def create_payload(self) -> dict[str, Any]:
        """JSON body of the create POST: the real SDK's keys, in its order."""
        return fw.to_wire(self.create_body())


@dataclass
class TrainingShapeProfile:
    """A resolved training-shape version (what `resolve_training_profile` returns)."""

    training_shape_version: str
    trainer_image_tag: str
    max_supported_context_length: int
    node_count: int
    deployment_shape_version: str
    deployment_image_tag: str
    accelerator_type: str
    accelerator_count: int
    base_model_weight_precision: str
    pipeline_parallelism: int
    trainer_mode: str = ""

    @property
    def training_shape(self) -> str | None:
        """The parent shape name (no `/versions/...`): pass it as `training_shape_ref`."""
        v = self.training_shape_version
        return (v[: v.find("/versions/")] if "/versions/" in v else v) or None

    @property
    def deployment_shape(self) -> str | None:
        return self.deployment_shape_version or None

    @property
    def supports_lora(self) -> bool:
        return self.trainer_mode == "LORA_TRAINER"

    @classmethod
    def from_wire(cls, version: dict[str, Any]) -> TrainingShapeProfile:
        snap = version.get("snapshot", {}) or {}
        sharding = snap.get("trainerShardingScheme", {}) or {}
        return cls(
            training_shape_version=version.get("name", ""),
            trainer_image_tag=snap.get("trainerImageTag", ""),
            max_supported_context_length=snap.get("maxSupportedContextLength", 0),
            node_count=snap.get("nodeCount", 1),
            deployment_shape_version=snap.get("deploymentShapeVersion", ""),
            deployment_image_tag=snap.get("deploymentImageTag", ""),
            accelerator_type=snap.get("acceleratorType", ""),
            accelerator_count=snap.get("acceleratorCount", 0),
            base_model_weight_precision=snap.get("baseModelWeightPrecision", ""),
            pipeline_parallelism=int(sharding.get("pipelineParallelism", 1) or 1),
            trainer_mode=snap.get("trainerMode", ""),
        )


class JobInfo(dict):
    """A job payload, as returned by the service (a plain dict: `job["state"]` works), with
    typed accessors."""

    @property
    def name(self) -> str:
        return str(self.get("name", ""))

    @property
    def job_id(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    @property
    def state(self) -> str:
        return str(self.get("state") or "")

    @property
    def status_message(self) -> str:
        return job_status_message(self)

    @property
    def max_context_length(self) -> int | None:
        tc = self.get("trainingConfig")
        mcl = tc.get("maxContextLength") if isinstance(tc, dict) else None
        ok = isinstance(mcl, int) and not isinstance(mcl, bool) and mcl > 0
        return mcl if ok else None


class CheckpointInfo(dict):
    """A control-plane checkpoint row (a plain dict) with typed accessors."""

    @property
    def name(self) -> str:
        return str(self.get("name", ""))

    @property
    def checkpoint_id(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    @property
    def checkpoint_type(self) -> str:
        return str(self.get("checkpointType", ""))

    @property
    def create_time(self) -> str:
        return str(self.get("createTime", ""))

    @property
    def promotable(self) -> bool:
        return bool(self.get("promotable", False))

    @property
    def is_training_state(self) -> bool:
        """A `save_state` checkpoint (loadable with `load_state`), not a sampler export."""
        return self.checkpoint_type.endswith(("TRAINING", "TRAINING_LORA"))
