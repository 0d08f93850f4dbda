"""drydock.emulator: a deterministic fake control plane for cloud training-job services."""

from .clock import DEFAULT_EPOCH, Clock, ScaledClock, VirtualClock, WallClock
from .control_plane import ControlPlane, Job, JobSpec, Timings
from .emulator import DEFAULT_ACCOUNT, DEFAULT_API_KEY, Emulator, register_app_extension
from .errors import (AlreadyExists, ClockCapExceeded, ClockError, DrydockError,
                     FailedPrecondition, FaultPlanError, IllegalTransition, InvalidArgument,
                     NotFound, PermissionDenied, ServiceError, Unauthenticated)
from .events import Event, EventLog
from .faults import (CapacityStarvation, CheckpointWriteFailure, ExternalCancel, Fault, FaultPlan,
                     HealthzFlap, HoldState, HttpFault, IdleAutoStop, NodeFailure, Preempt,
                     TrainerCrash)
from .runtime import NullRuntime, TrainerRuntime
from .server import ServerThread
from .shapes import ShapeCatalog, default_catalog
from .states import JobState

__all__ = [
    "Emulator", "ServerThread", "DEFAULT_ACCOUNT", "DEFAULT_API_KEY", "register_app_extension",
    "ControlPlane", "Job", "JobSpec", "Timings", "JobState",
    "Clock", "VirtualClock", "WallClock", "ScaledClock", "DEFAULT_EPOCH",
    "Event", "EventLog",
    "FaultPlan", "Fault", "Preempt", "NodeFailure", "HoldState", "CapacityStarvation", "HttpFault",
    "HealthzFlap", "ExternalCancel", "IdleAutoStop", "TrainerCrash", "CheckpointWriteFailure",
    "TrainerRuntime", "NullRuntime", "ShapeCatalog", "default_catalog",
    "DrydockError", "ServiceError", "InvalidArgument", "NotFound", "AlreadyExists",
    "FailedPrecondition", "PermissionDenied", "Unauthenticated", "ClockError", "ClockCapExceeded",
    "IllegalTransition", "FaultPlanError",
]
