"""drydock.trainer: small torch models, losses, optimizer, LoRA and atomic checkpoints behind
every RUNNING job (the engine), and the workers and runtime that run them. It sees the plane only
through `drydock.emulator.trainer_port.TrainerHost` and speaks no service's wire format."""

from ._examples import make_example
from .checkpoints import (
    INFERENCE_BASE,
    INFERENCE_LORA,
    TRAINING,
    TRAINING_LORA,
    CheckpointEntry,
    CheckpointStore,
)
from .engine import SavedCheckpoint, TrainerEngine
from .errors import CheckpointWriteError, TrainerError, TrainerUserError
from .losses import SUPPORTED_LOSSES
from .runtime import TorchRuntime, default_runtime, thread_runtime

__all__ = [
    "TrainerEngine",
    "SavedCheckpoint",
    "TrainerError",
    "TrainerUserError",
    "CheckpointWriteError",
    "CheckpointStore",
    "CheckpointEntry",
    "TRAINING",
    "TRAINING_LORA",
    "INFERENCE_BASE",
    "INFERENCE_LORA",
    "SUPPORTED_LOSSES",
    "make_example",
    "TorchRuntime",
    "default_runtime",
    "thread_runtime",
]
