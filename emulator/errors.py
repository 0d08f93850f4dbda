"""The emulator's exception tree.

Core errors carry a gRPC-style status name so every dialect can map them to its own wire form
(a dialect turns them into `{"code": <int>, "message": ...}` with the matching HTTP
status). Nothing here knows about HTTP.
"""

from __future__ import annotations

__all__ = [
    "DrydockError",
    "ClockError",
    "ClockCapExceeded",
    "ClockWentBackwards",
    "ServiceError",
    "InvalidArgument",
    "NotFound",
    "AlreadyExists",
    "FailedPrecondition",
    "Unauthenticated",
    "PermissionDenied",
    "ResourceExhausted",
    "Unavailable",
    "IllegalTransition",
    "FaultPlanError",
]


class DrydockError(Exception):
    """Base of every error drydock raises on purpose."""


class ClockError(DrydockError):
    """A misuse of a clock."""


class ClockCapExceeded(ClockError):
    """A virtual-clock advance would pass the clock's cap: a loop that never ends, most likely."""


class ClockWentBackwards(ClockError):
    """Someone asked a clock to move to an earlier time."""


class ServiceError(DrydockError):
    """An error the emulated service reports to its client (a gRPC status)."""

    grpc_code: int = 2
    grpc_name: str = "UNKNOWN"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(ServiceError):
    grpc_code, grpc_name = 3, "INVALID_ARGUMENT"


class NotFound(ServiceError):
    grpc_code, grpc_name = 5, "NOT_FOUND"


class AlreadyExists(ServiceError):
    grpc_code, grpc_name = 6, "ALREADY_EXISTS"


class PermissionDenied(ServiceError):
    grpc_code, grpc_name = 7, "PERMISSION_DENIED"


class ResourceExhausted(ServiceError):
    grpc_code, grpc_name = 8, "RESOURCE_EXHAUSTED"


class FailedPrecondition(ServiceError):
    grpc_code, grpc_name = 9, "FAILED_PRECONDITION"


class Unavailable(ServiceError):
    grpc_code, grpc_name = 14, "UNAVAILABLE"


class Unauthenticated(ServiceError):
    grpc_code, grpc_name = 16, "UNAUTHENTICATED"


class IllegalTransition(DrydockError):
    """The state machine was asked for a transition its table does not allow (a drydock bug)."""


class FaultPlanError(DrydockError):
    """A fault plan that cannot be loaded or applied."""
