"""drydock.trainer: small torch models, losses, optimizer, LoRA and atomic checkpoints behind
every RUNNING job (the engine), and the worker that serves them on the training wire."""

from .checkpoints import (INFERENCE_BASE, INFERENCE_LORA, TRAINING, TRAINING_LORA, CheckpointEntry,
                          CheckpointStore)
from ._wire import make_datum
from .engine import SavedCheckpoint, TrainerEngine
from .errors import CheckpointWriteError, TrainerError, TrainerUserError
from .losses import SUPPORTED_LOSSES
from .runtime import TorchRuntime, default_runtime, thread_runtime

__all__ = [
    "TrainerEngine", "SavedCheckpoint", "TrainerError", "TrainerUserError", "CheckpointWriteError",
    "CheckpointStore", "CheckpointEntry", "TRAINING", "TRAINING_LORA", "INFERENCE_BASE",
    "INFERENCE_LORA", "SUPPORTED_LOSSES", "make_datum",
    "TorchRuntime", "default_runtime", "thread_runtime",
]
