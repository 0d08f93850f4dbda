"""Fireworks request rules: id patterns, shape-owned fields, durations and the service's messages.

Each check returns the problem as a string, or None. The emulator's Fireworks dialect answers
`400 INVALID_ARGUMENT` with these messages and drydock.sdk rejects a bad `TrainerJobConfig`
before any HTTP with the very same text, so a test written against either sees one wording.
"""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = [
    "JOB_ID_RE",
    "MODEL_ID_RE",
    "SHAPE_REF_PATTERN",
    "SHAPE_REF_RE",
    "BASE_MODEL_RE",
    "CHECKPOINT_NAME_RE",
    "DURATION_RE",
    "DISPLAY_NAME_LIMIT",
    "MAX_INACTIVITY_TIMEOUT_S",
    "SHAPE_OWNED_FIELDS",
    "lora_rank_error",
    "learning_rate_error",
    "max_context_length_error",
    "display_name_error",
    "job_id_error",
    "shape_ref_error",
    "output_model_id_error",
    "base_model_error",
    "infra_count_error",
    "gradient_accumulation_steps_error",
    "format_duration",
    "duration_seconds",
    "inactivity_timeout_error",
    "job_spec_errors",
]

JOB_ID_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
MODEL_ID_RE = re.compile(r"^[a-z0-9-]{1,63}$")
SHAPE_REF_PATTERN = r"^accounts/([^/]+)/trainingShapes/([^/]+)(?:/versions/([^/]+))?$"
SHAPE_REF_RE = re.compile(SHAPE_REF_PATTERN)
BASE_MODEL_RE = re.compile(r"^accounts/[^/]+/models/[^/]+$")
CHECKPOINT_NAME_RE = re.compile(r"^accounts/([^/]+)/rlorTrainerJobs/([^/]+)/checkpoints/([^/]+)$")
# A protobuf JSON duration ("1800s", "1.5s"); the sign is matched so that "-5s" is reported
# as negative rather than as malformed.
DURATION_RE = re.compile(r"^(?P<sign>-?)(?P<seconds>\d+)(\.\d{1,9})?s$")
DISPLAY_NAME_LIMIT = 64  # the service rejects names of 64 characters or more
MAX_INACTIVITY_TIMEOUT_S = 3 * 60 * 60
# TrainerJobConfig fields a training shape owns: set on a shape or auto launch, they are refused.
SHAPE_OWNED_FIELDS = ("accelerator_type", "accelerator_count", "node_count")


def lora_rank_error(lora_rank: int) -> str | None:
    return None if lora_rank >= 0 else f"lora_rank must be >= 0, got {lora_rank}"


def learning_rate_error(learning_rate: float) -> str | None:
    return None if learning_rate > 0 else f"learning_rate must be > 0, got {learning_rate}"


def max_context_length_error(max_context_length: int | None) -> str | None:
    if max_context_length is None or max_context_length > 0:
        return None
    return f"max_context_length must be > 0, got {max_context_length}"


def display_name_error(display_name: str | None) -> str | None:
    if display_name is None or len(display_name) < DISPLAY_NAME_LIMIT:
        return None
    return "displayName must be shorter than 64 characters"


def job_id_error(job_id: str) -> str | None:
    if JOB_ID_RE.match(job_id):
        return None
    return (
        f"invalid job id {job_id!r}: use 1-63 lowercase letters, digits and hyphens, "
        "starting and ending with a letter or digit"
    )


def shape_ref_error(ref: str) -> str | None:
    if SHAPE_REF_RE.match(ref):
        return None
    return (
        f"invalid training shape reference {ref!r}: expected "
        "accounts/<account>/trainingShapes/<shape>[/versions/<version>]"
    )


def output_model_id_error(output_model_id: str | None) -> str | None:
    if MODEL_ID_RE.match(output_model_id or ""):
        return None
    return (
        f"invalid output model id {output_model_id!r}: 1-63 characters, lowercase "
        "a-z, 0-9 and hyphen only"
    )


def base_model_error(base_model: str) -> str | None:
    if BASE_MODEL_RE.match(base_model):
        return None
    return f"invalid base model {base_model!r}: expected accounts/<account>/models/<model>"


def infra_count_error(accelerator_count: int | None, node_count: int | None) -> str | None:
    """Manual launch path only: unset or 0 means the default (1); negatives are rejected."""
    if (accelerator_count or 1) >= 1 and (node_count or 1) >= 1:
        return None
    return "accelerator_count and node_count must be >= 1"


def gradient_accumulation_steps_error(steps: int | None) -> str | None:
    """Unset means 1 (one micro-batch per optimizer step)."""
    if steps is None or (isinstance(steps, int) and not isinstance(steps, bool) and steps >= 1):
        return None
    return f"gradient_accumulation_steps must be >= 1, got {steps!r}"


def format_duration(value: timedelta | str) -> str:
    """A non-negative duration as its protobuf JSON string ("1800s").

    Raises ValueError/TypeError with the real SDK's words (prefixed by the field name by the
    caller)."""
    if isinstance(value, timedelta):
        total = value.total_seconds()
        if total < 0:
            raise ValueError("must be non-negative")
        return (
            f"{int(total)}s" if total.is_integer() else f"{total:.9f}".rstrip("0").rstrip(".") + "s"
        )
    if isinstance(value, str):
        m = DURATION_RE.match(value)
        if m is None:
            raise ValueError(
                "must be a protobuf JSON duration string such as '1800s'; use "
                "datetime.timedelta for minute/hour values"
            )
        if m.group("sign"):
            raise ValueError("must be non-negative")
        return value
    raise TypeError("must be datetime.timedelta or protobuf JSON duration string")


def duration_seconds(value: timedelta | str) -> float:
    """Seconds of a valid duration (see `format_duration`)."""
    return float(format_duration(value)[:-1])


def inactivity_timeout_error(
    value: timedelta | str | None, field: str = "inactivity_timeout"
) -> str | None:
    """The inactivity timeout rule: a non-negative duration of at most 3 hours. `field` names
    it in a format problem as the caller spells it (the server: "inactivityTimeout"); the cap's
    message is the real SDK's, on both sides."""
    if value is None:
        return None
    try:
        seconds = duration_seconds(value)
    except (TypeError, ValueError) as exc:
        return f"{field} {exc}"
    if seconds > MAX_INACTIVITY_TIMEOUT_S:
        return "inactivity_timeout must be at most 3 hours"
    return None


def job_spec_errors(
    *,
    base_model: str,
    lora_rank: int = 0,
    learning_rate: float = 1e-5,
    max_context_length: int | None = None,
    display_name: str | None = None,
    training_shape: str | None = None,
    job_id: str | None = None,
    accelerator_count: int | None = None,
    node_count: int | None = None,
) -> list[str]:
    """Every problem the service would report for this create request, in the order it checks."""
    checks = [
        display_name_error(display_name),
        job_id_error(job_id) if job_id is not None else None,
        lora_rank_error(lora_rank),
        learning_rate_error(learning_rate),
        max_context_length_error(max_context_length),
        base_model_error(base_model),
        shape_ref_error(training_shape)
        if training_shape
        else infra_count_error(accelerator_count, node_count),
    ]
    return [c for c in checks if c]
