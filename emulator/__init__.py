"""drydock.emulator: a deterministic fake control plane for cloud training-job services."""

from .clock import DEFAULT_EPOCH, Clock, ScaledClock, VirtualClock, WallClock
from .control_plane import ControlPlane, Job, JobSpec, RestartPolicy, Timings
from .dialect import Dialect
from .emulator import DEFAULT_ACCOUNT, DEFAULT_API_KEY, Emulator, default_catalog, default_dialects
from .errors import (AlreadyExists, ClockCapExceeded, ClockError, DrydockError,
                     FailedPrecondition, FaultPlanError, IllegalTransition, InvalidArgument,
                     NotFound, PermissionDenied, ServiceError, Unauthenticated)
from .events import Event, EventLog
from .faults import (FAULT_TYPES, CapacityStarvation, CheckpointWriteFailure, ExternalCancel, Fault,
                     FaultBase, FaultPlan, HealthzFlap, HoldState, HotLoadFailure, HttpFault,
                     IdleAutoStop, NodeFailure, Preempt, TokenLatency, TrainerCrash, fault_kinds)
from .runtime import NullRuntime, TrainerRuntime
from .server import ServerThread
from .shapes import ShapeCatalog
from .states import JobState

__all__ = [
    "Emulator", "ServerThread", "DEFAULT_ACCOUNT", "DEFAULT_API_KEY", "Dialect", "default_dialects",
    "RestartPolicy",
    "ControlPlane", "Job", "JobSpec", "Timings", "JobState",
    "Clock", "VirtualClock", "WallClock", "ScaledClock", "DEFAULT_EPOCH",
    "Event", "EventLog",
    "FaultPlan", "Fault", "FaultBase", "FAULT_TYPES", "fault_kinds", "Preempt", "NodeFailure", "HoldState", "CapacityStarvation", "HttpFault",
    "HealthzFlap", "ExternalCancel", "IdleAutoStop", "TrainerCrash", "CheckpointWriteFailure",
    "HotLoadFailure", "TokenLatency",
    "TrainerRuntime", "NullRuntime", "ShapeCatalog", "default_catalog",
    "DrydockError", "ServiceError", "InvalidArgument", "NotFound", "AlreadyExists",
    "FailedPrecondition", "PermissionDenied", "Unauthenticated", "ClockError", "ClockCapExceeded",
    "IllegalTransition", "FaultPlanError",
]
