"""`ExecutionSpec`: who a job is (project / group / job_name / run_id), where its checkpoints
live, and its config."""

from __future__ import annotations

import json
import secrets
import string
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ._jobs_errors import JobSpecError

__all__ = ["ExecutionSpec", "new_run_id", "config_to_json", "LAUNCH_FIELDS"]

_RUN_ID_ALPHABET = string.ascii_lowercase + string.digits
# Fields that describe where this launch runs rather than who the job is: never taken from a
# checkpoint's job.json on resume.
LAUNCH_FIELDS = frozenset({"checkpoints_dir", "config"})


def new_run_id(length: int = 8) -> str:
    """A fresh wandb-style run id (lowercase letters and digits). Pass `run_id=` explicitly to
    an ExecutionSpec where a test needs determinism."""
    return "".join(secrets.choice(_RUN_ID_ALPHABET) for _ in range(length))


class ExecutionSpec(BaseModel):
    """How one job runs. `checkpoints_dir` comes from the cluster config; a job's own checkpoints
    live at `checkpoints_dir / project / group / job_name / <suffix>`.

    Identity fields (everything except `checkpoints_dir` and `config`) are saved in each
    checkpoint's job.json and restored from it on `from_checkpoint_path(..., resume=True)`.
    Subclasses may add identity fields; they are saved and restored the same way.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    project: str
    group: str
    job_name: str
    checkpoints_dir: Path
    config: Any = None
    run_id: str = Field(default_factory=new_run_id)

    @field_validator("project", "group", "job_name", "run_id")
    @classmethod
    def _path_segment(cls, value: str) -> str:
        # These name directories, so each must be one safe path segment.
        if (
            not value
            or value in (".", "..")
            or value.startswith(".")
            or value.startswith("_")
            or any(c in value for c in "/\\\x00")
        ):
            raise ValueError(
                f"{value!r} must be one non-empty path segment not starting with "
                "'.' or '_' and without '/' or '\\'"
            )
        return value

    @property
    def job_rel_path(self) -> Path:
        """project/group/job_name, relative to checkpoints_dir."""
        return Path(self.project, self.group, self.job_name)

    @property
    def job_dir(self) -> Path:
        """Absolute directory of this job's checkpoints and markers."""
        return Path(self.checkpoints_dir).absolute() / self.job_rel_path

    def identity(self) -> dict[str, Any]:
        """The JSON form of the identity fields (what job.json saves)."""
        return self.model_dump(mode="json", exclude=set(LAUNCH_FIELDS))


def config_to_json(config: Any) -> Any:
    """The JSON-able form of a config (a pydantic model is dumped); JobSpecError otherwise."""
    if isinstance(config, BaseModel):
        return config.model_dump(mode="json")
    try:
        json.dumps(config)
    except (TypeError, ValueError) as exc:
        raise JobSpecError(f"job config is not JSON-able: {exc}") from None
    return config
