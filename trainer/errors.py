"""The trainer's exception tree (re-exported by `drydock.trainer.engine`)."""

from __future__ import annotations

from drydock.emulator.errors import DrydockError

__all__ = ["TrainerError", "TrainerUserError", "CheckpointWriteError"]


class TrainerError(DrydockError):
    """Base of every error the torch trainer raises on purpose."""


class TrainerUserError(TrainerError, ValueError):
    """Bad input from the caller (shapes, token ids, unknown loss or checkpoint, forward-only
    misuse, another account's job). The engine is unchanged and stays usable."""


class CheckpointWriteError(TrainerError, RuntimeError):
    """A checkpoint write failed part-way (injected or real); the previous checkpoint and the
    manifest are intact."""
