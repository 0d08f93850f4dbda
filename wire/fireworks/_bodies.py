"""Fireworks request bodies: pydantic models, snake_case in Python and camelCase on the wire.

The emulator parses a request with `parse_body` (strict: unknown keys, wrong types, snake_case
spellings of camelCase keys and non-finite numbers are refused, as the real gRPC-gateway front
end refuses them); drydock.sdk builds the same models from a `TrainerJobConfig` and sends
`to_wire(model)`, so the keys and their order are written once.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

__all__ = [
    "WireBodyError",
    "WireInt",
    "TrainingConfigBody",
    "CreateJobBody",
    "PromoteBody",
    "parse_body",
    "body_problems",
    "to_wire",
]

B = TypeVar("B", bound=BaseModel)


def _whole_number(v: object) -> object:
    return int(v) if isinstance(v, float) and v.is_integer() else v


#: An integer field: `2` and `2.0` are 2 (a whole JSON number, as JSON Schema and proto3 JSON
#: read it); `2.5` and `true` are a 400.
WireInt = Annotated[int, BeforeValidator(_whole_number)]


class WireBodyError(ValueError):
    """A request body the service refuses; the message is the service's 400 message."""


class _Body(BaseModel):
    # allow_inf_nan=False: Infinity/NaN (or 1e400) would be stored, then break every JSON reply.
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class _CamelBody(_Body):
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )


class TrainingConfigBody(_CamelBody):
    """`trainingConfig` of a create request. Field order = the real SDK's key order."""

    base_model: str = Field(min_length=1)
    lora_rank: WireInt = 0
    learning_rate: float = 1e-5
    projection_head_dim: WireInt | None = None
    max_context_length: WireInt | None = None
    custom_image_tag: str | None = None
    accelerator_type: str | None = None
    accelerator_count: WireInt | None = None
    region: str | None = None
    extra_args: list[str] | None = None
    # Micro-batches per optimizer step; unset = 1. fireworks-ai 1.2.28 never sends it.
    gradient_accumulation_steps: WireInt | None = None


class CreateJobBody(_CamelBody):
    """`POST /v1/accounts/{a}/rlorTrainerJobs` body. Field order = the real SDK's key order."""

    service_mode: bool = True
    keep_alive: bool = False
    dataset: str = ""
    training_config: TrainingConfigBody
    trainer_replica_count: WireInt | None = None
    use_reservation: bool | None = None
    reservation_target: str | None = None
    node_count: WireInt | None = None
    display_name: str | None = None
    hot_load_deployment_id: str | None = None
    extra_values: dict[str, str] | None = None
    forward_only: bool | None = None
    purpose: str | None = None
    preemptible: bool | None = None
    managed_by: str | None = None
    inactivity_timeout: str | None = None
    disable_inactivity_cleanup: bool | None = None


class PromoteBody(_Body):
    """`POST /v1/accounts/{a}/checkpoints/{c}:promote` body (snake_case on the wire too).
    Field order = the real SDK's key order."""

    output_model: str = Field(min_length=1)
    trainer_job_id: str | None = None
    base_model: str = Field(min_length=1)
    hot_load_deployment_id: str | None = None
    async_promotion: bool | None = None  # last: the real SDK adds it to the body it built


def _wire_loc(model: type[BaseModel] | None, loc: tuple[int | str, ...]) -> str:
    """An error location with wire spellings, however the model was validated (by name or
    alias): ("training_config", "lora_rank") -> "trainingConfig.loraRank"."""
    parts = []
    for part in loc:
        field = model.model_fields.get(str(part)) if model is not None else None
        if field is None:
            parts.append(str(part))
            model = None
            continue
        parts.append(field.alias or str(part))
        ann = field.annotation
        candidates = (ann, *getattr(ann, "__args__", ()))
        model = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
    return ".".join(parts)


def body_problems(exc: ValidationError, model: type[BaseModel] | None = None) -> list[str]:
    """The service's wording for each problem of a body that failed validation (`model`: the
    body's class, so that fields are named as the wire spells them)."""
    problems = []
    for err in exc.errors():
        loc = err["loc"]
        if err["type"] == "extra_forbidden":  # the last part is the sender's own key: kept
            where = ".".join(p for p in (_wire_loc(model, loc[:-1]), str(loc[-1])) if p)
        else:
            where = _wire_loc(model, loc) or "body"
        if err["type"] == "extra_forbidden":
            problems.append(f'unknown field "{where}"')
        elif err["type"] == "json_invalid":
            problems.append(f"malformed JSON: {err['msg']}")
        elif err["type"] == "missing":
            problems.append(f'missing required field "{where}"')
        else:
            problems.append(f'invalid value for "{where}": {err["msg"]}')
    return problems


def parse_body(raw: bytes | str, model: type[B]) -> B:
    """JSON as the wire carries it -> `model`, or WireBodyError naming each field and problem.

    Only wire spellings are accepted: `trainingConfig`, never `training_config`."""
    if not raw.strip():
        raise WireBodyError("request body is empty; expected a JSON object")
    try:
        return model.model_validate_json(raw, by_alias=True, by_name=False)
    except ValidationError as exc:
        raise WireBodyError("invalid request: " + "; ".join(body_problems(exc, model))) from None


def to_wire(body: BaseModel) -> dict[str, Any]:
    """The JSON object to send: wire keys, in declaration order, unset (None) fields left out."""
    return body.model_dump(mode="json", by_alias=True, exclude_none=True)
