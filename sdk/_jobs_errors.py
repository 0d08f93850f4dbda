"""Typed errors of the checkpointed-job framework (re-exported by `drydock.sdk.jobs`)."""

from __future__ import annotations

from .errors import DrydockSDKError

__all__ = [
    "CheckpointedJobError",
    "JobSpecError",
    "CheckpointError",
    "CheckpointNotFoundError",
    "CheckpointStructureError",
    "CheckpointTreeError",
    "CheckpointCorruptError",
    "InvalidCheckpointPathError",
    "SigtermGuardError",
]


class CheckpointedJobError(DrydockSDKError):
    """Base of every error the checkpointed-job framework (`drydock.sdk.jobs`) raises on
    purpose."""


class JobSpecError(CheckpointedJobError, ValueError):
    """An `ExecutionSpec` or a job's config is unusable (bad path segment, not JSON-able)."""


class CheckpointError(CheckpointedJobError):
    """Base of the checkpoint errors."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """No complete checkpoint at that path (a half-written one counts as absent)."""


class CheckpointStructureError(CheckpointError, ValueError):
    """A saved tree does not match the template (keys, lengths, leaf kinds, tensor shapes)."""


class CheckpointTreeError(CheckpointError, TypeError):
    """A tree or metadata value cannot be saved (unsupported leaf type, non-JSON metadata)."""


class CheckpointCorruptError(CheckpointError):
    """A committed checkpoint's files cannot be read back (edited or damaged on disk)."""


class InvalidCheckpointPathError(CheckpointError, ValueError):
    """A rel_path or suffix escapes checkpoints_dir or collides with the framework's own files."""


class SigtermGuardError(CheckpointedJobError, RuntimeError):
    """The SIGTERM guard was misused (installed off the main thread, or installed twice)."""
