"""The drydock.sdk exception tree.

Every class also derives from what fireworks-ai 1.2.28 raises in the same place, so code written
for the real SDK keeps catching them: HTTP failures are `RuntimeError` (what `create`/`get`/
`list_checkpoints` raise) *and* `httpx.HTTPStatusError` (what account resolution and `:resume`
raise); a wait that runs out is a `TimeoutError`; bad input is a `ValueError`.

    DrydockSDKError
    ├── APIError (RuntimeError, httpx.HTTPStatusError)      any non-2xx answer
    │   ├── BadRequestError            400 (server-side validation)
    │   ├── AuthenticationError        401
    │   ├── PermissionDeniedError      403
    │   ├── NotFoundError              404
    │   ├── ConflictError              409
    │   ├── RateLimitedError           429 (.retry_after_s)
    │   └── ServerError                5xx
    ├── JobError (RuntimeError)        the job is in a state the call cannot work with
    │   ├── JobFailedError             FAILED while waiting (.status_message, .status_code)
    │   ├── JobStoppedError            CANCELLED/COMPLETED/... after the settle window
    │   ├── JobDeletedError            a tombstone (DELETED/ARCHIVED); its id cannot be reused
    │   └── JobStuckError              reconnect: never reached a resumable state
    ├── WaitTimeoutError (TimeoutError)  .last_state, .job, .elapsed_s
    ├── ConfigValidationError (ValueError)  .messages, rejected before any HTTP
    ├── AccountMismatchError (ValueError)   the constructor's account_id is not the key's
    └── TrainingError (RuntimeError)   the training (trainer gateway) wire
        ├── FutureFailedError          the op failed on the trainer (.category)
        ├── FutureLostError            404/410 on retrieve_future: the trainer lost it (restart)
        ├── TrainerUnavailableError    the trainer cannot be reached / its session is gone
        └── SequenceFailedError        an earlier forward/forward_backward failed; reconnect
"""

from __future__ import annotations

from typing import Any

import httpx

from ._retry import retry_after_seconds
from ._status import job_status_message

__all__ = [
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
    "api_error_from_response",
    "parse_error_message",
]


class DrydockSDKError(Exception):
    """Base of every error drydock.sdk raises on purpose."""


class APIError(DrydockSDKError, httpx.HTTPStatusError, RuntimeError):
    """The service answered with a non-2xx status.

    `server_message` is the message from the error body, `status_code` the HTTP status,
    `reason` the google.rpc.ErrorInfo reason when the body carries one.
    """

    def __init__(
        self,
        message: str,
        *,
        request: httpx.Request,
        response: httpx.Response,
        server_message: str = "",
        reason: str | None = None,
    ) -> None:
        httpx.HTTPStatusError.__init__(self, message, request=request, response=response)
        self.status_code = response.status_code
        self.server_message = server_message
        self.reason = reason
        self.metadata: dict[str, str] = {}


class BadRequestError(APIError):
    """400: the service rejected the request (e.g. a config the client did not check)."""


class AuthenticationError(APIError):
    """401: the API key is missing or unknown."""


class PermissionDeniedError(APIError):
    """403: the key is valid but may not touch this account or resource."""


class NotFoundError(APIError):
    """404: no such job, checkpoint, shape or model in this account."""


class ConflictError(APIError):
    """409: the resource already exists or is in a state that conflicts with the call."""


class RateLimitedError(APIError):
    """429 after the retry budget ran out. `retry_after_s` is the server's last hint."""

    @property
    def retry_after_s(self) -> float | None:
        return retry_after_seconds(self.response)


class ServerError(APIError):
    """5xx after the retry budget ran out."""


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitedError,
}


class JobError(DrydockSDKError, RuntimeError):
    """The job is in a state that the call cannot work with."""

    def __init__(
        self, message: str, *, job_id: str, state: str = "", job: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.state = state
        self.job = job or {}


class JobFailedError(JobError):
    """The job reads JOB_STATE_FAILED (preempted, node failure, crash) while being waited on."""

    @property
    def status_message(self) -> str:
        return job_status_message(self.job)

    @property
    def status_code(self) -> Any:
        status = self.job.get("status")
        return status.get("code") if isinstance(status, dict) else None


class JobStoppedError(JobError):
    """The job stayed CANCELLING/CANCELLED/COMPLETED/EARLY_STOPPED/DELETING past the settle window."""


class JobDeletedError(JobError):
    """The job is a tombstone (DELETED/ARCHIVED): readable for checkpoints, never re-attachable."""


class JobStuckError(JobError):
    """`reconnect_and_wait` gave up: the job never reached a resumable state."""


class WaitTimeoutError(DrydockSDKError, TimeoutError):
    """A wait ran out of time. Carries what it last saw, so the caller can decide what next."""

    def __init__(
        self,
        message: str,
        *,
        job_id: str,
        last_state: str,
        elapsed_s: float,
        job: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.last_state = last_state
        self.elapsed_s = elapsed_s
        self.job = job or {}


class ConfigValidationError(DrydockSDKError, ValueError):
    """A request the service would reject, caught before any HTTP. `messages` are the service's
    own wording (see drydock.wire.fireworks) or the real SDK's for client-only rules."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("\n".join(messages))
        self.messages = list(messages)


class AccountMismatchError(DrydockSDKError, ValueError):
    """The manager was given an `account_id` that the API key does not belong to.
    `key_accounts` are the key's own accounts."""

    def __init__(self, message: str, *, account_id: str, key_accounts: list[str]) -> None:
        super().__init__(message)
        self.account_id = account_id
        self.key_accounts = list(key_accounts)


class TrainingError(DrydockSDKError, RuntimeError):
    """A failure on the training wire (the trainer gateway)."""


class FutureFailedError(TrainingError):
    """The trainer ran the op and it failed. `category` is "user", "server" or "unknown"."""

    def __init__(self, message: str, *, category: str = "unknown", request_id: str = "") -> None:
        super().__init__(message)
        self.category = category
        self.request_id = request_id


class FutureLostError(TrainingError):
    """retrieve_future answered 404/410: the trainer no longer knows the request (it restarted)."""

    def __init__(self, message: str, *, status_code: int, request_id: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.request_id = request_id


class TrainerUnavailableError(TrainingError):
    """The trainer could not be reached, or it no longer knows our session/model (404)."""


class SequenceFailedError(TrainingError):
    """An earlier forward/forward_backward of this model failed; reconnect before going on."""


def parse_error_message(response: httpx.Response) -> str:
    """The message of an error body, as the real SDK reads it (`error.message` or `message`)."""
    try:
        body = response.json()
        err = body.get("error", body) if isinstance(body, dict) else body
        if isinstance(err, dict):
            return str(err.get("message", err))
        return str(err)
    except Exception:
        return response.text.strip()[:200]


def _error_reason(response: httpx.Response) -> str | None:
    try:
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            body = body["error"]
        for d in body.get("details") or []:
            if (
                isinstance(d, dict)
                and d.get("@type") == "type.googleapis.com/google.rpc.ErrorInfo"
                and d.get("reason")
            ):
                return str(d["reason"])
    except Exception:
        pass
    return None


def api_error_from_response(response: httpx.Response, context: str) -> APIError:
    """The typed error for a non-2xx response: `"<context> (HTTP <code>): <server message>"`."""
    msg = parse_error_message(response)
    code = response.status_code
    cls = _BY_STATUS.get(code) or (ServerError if code >= 500 else APIError)
    return cls(
        f"{context} (HTTP {code}): {msg}",
        request=response.request,
        response=response,
        server_message=msg,
        reason=_error_reason(response),
    )
