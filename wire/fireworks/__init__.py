"""The Fireworks wire: request bodies, job states, id patterns and validation rules.

One source for both sides: the emulator's Fireworks dialect (`drydock.emulator.dialects.
fireworks`) and the client (`drydock.sdk`), plus drydock's scenarios and hypothesis strategies.
Pydantic is its only dependency.
"""

from ._bodies import (
    CreateJobBody,
    PromoteBody,
    TrainingConfigBody,
    WireBodyError,
    WireInt,
    body_problems,
    parse_body,
    to_wire,
)
from ._rules import (
    BASE_MODEL_RE,
    CHECKPOINT_NAME_RE,
    DISPLAY_NAME_LIMIT,
    DURATION_RE,
    JOB_ID_RE,
    MAX_INACTIVITY_TIMEOUT_S,
    MODEL_ID_RE,
    SHAPE_OWNED_FIELDS,
    SHAPE_REF_PATTERN,
    SHAPE_REF_RE,
    base_model_error,
    display_name_error,
    duration_seconds,
    format_duration,
    gradient_accumulation_steps_error,
    inactivity_timeout_error,
    infra_count_error,
    job_id_error,
    job_spec_errors,
    learning_rate_error,
    lora_rank_error,
    max_context_length_error,
    output_model_id_error,
    shape_ref_error,
)
from ._states import (
    JOB_STATE_PREFIX,
    JOB_STATES,
    RESUMABLE_STATES,
    STOPPED_STATES,
    TOMBSTONE_STATES,
    job_state_name,
)

__all__ = [
    # bodies
    "CreateJobBody",
    "TrainingConfigBody",
    "PromoteBody",
    "WireBodyError",
    "WireInt",
    "parse_body",
    "body_problems",
    "to_wire",
    # states
    "JOB_STATE_PREFIX",
    "JOB_STATES",
    "TOMBSTONE_STATES",
    "STOPPED_STATES",
    "RESUMABLE_STATES",
    "job_state_name",
    # ids and rules
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
