"""drydock.sdk: our own client for the Fireworks-style training services.

- `TrainerJobManager` / `AsyncTrainerJobManager`: fireworks-ai's documented job-lifecycle API
  (same requests), with typed errors, Retry-After-aware retries, an injectable clock and
  transport, progress callbacks, and `for_emulator(emu)` for in-process, virtual-time tests.
- `TrainingClient` / `ResilientTrainingLoop`: the training wire (sessions, models, futures),
  and the one recovery policy after a preemption.

Importable without torch.
"""

from ._retry import RetryPolicy, instant_retries, set_instant_retries
from .clock import EmulatorClock, RemoteEmulatorClock, SDKClock, SystemClock
from .errors import (
    AccountMismatchError,
    APIError,
    AuthenticationError,
    BadRequestError,
    ConfigValidationError,
    ConflictError,
    DrydockSDKError,
    FutureFailedError,
    FutureLostError,
    JobDeletedError,
    JobError,
    JobFailedError,
    JobStoppedError,
    JobStuckError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    SequenceFailedError,
    ServerError,
    TrainerUnavailableError,
    TrainingError,
    WaitTimeoutError,
)
from .manager import AsyncTrainerJobManager, TrainerJobManager
from .models import (
    CheckpointInfo,
    CreatedTrainerJob,
    JobInfo,
    TrainerJobConfig,
    TrainerServiceEndpoint,
    TrainingShapeProfile,
    validate_output_model_id,
)
from .recovery import RECOVERABLE_ERRORS, ResilientTrainingLoop, TrainingReport
from .training import AdamParams, Datum, ForwardBackwardOutput, TrainingClient

__all__ = [
    "TrainerJobManager",
    "AsyncTrainerJobManager",
    "TrainerJobConfig",
    "CreatedTrainerJob",
    "TrainerServiceEndpoint",
    "TrainingShapeProfile",
    "JobInfo",
    "CheckpointInfo",
    "validate_output_model_id",
    "TrainingClient",
    "Datum",
    "AdamParams",
    "ForwardBackwardOutput",
    "ResilientTrainingLoop",
    "TrainingReport",
    "RECOVERABLE_ERRORS",
    "RetryPolicy",
    "instant_retries",
    "set_instant_retries",
    "SDKClock",
    "SystemClock",
    "EmulatorClock",
    "RemoteEmulatorClock",
    "DrydockSDKError",
    "APIError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "RateLimitedError",
    "ServerError",
    "JobError",
    "JobFailedError",
    "JobStoppedError",
    "JobDeletedError",
    "JobStuckError",
    "WaitTimeoutError",
    "ConfigValidationError",
    "AccountMismatchError",
    "TrainingError",
    "FutureFailedError",
    "FutureLostError",
    "TrainerUnavailableError",
    "SequenceFailedError",
]

# Checkpointed-job framework (BasicJob / CheckpointedJob / RestoreableJob): see drydock.sdk.jobs.
from .jobs import (
    BasicJob,
    CheckpointCorruptError,
    CheckpointedJob,
    CheckpointedJobError,
    CheckpointError,
    CheckpointNotFoundError,
    CheckpointStructureError,
    CheckpointTreeError,
    ExecutionSpec,
    InvalidCheckpointPathError,
    JobSpecError,
    RestoreableJob,
    SigtermGuard,
    SigtermGuardError,
    new_run_id,
)

__all__ += [
    "ExecutionSpec",
    "new_run_id",
    "BasicJob",
    "CheckpointedJob",
    "RestoreableJob",
    "SigtermGuard",
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
