"""AWS JSON 1.1 wire helpers: typed errors rendered as `{"__type", "message"}`, ARNs, times."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

__all__ = [
    "AwsError",
    "ValidationException",
    "ResourceNotFound",
    "ResourceInUse",
    "ThrottlingException",
    "UnknownOperation",
    "json_response",
    "error_response",
    "ACCOUNT",
    "arn",
]

ACCOUNT = "123456789012"  # moto's default account: STS GetCallerIdentity answers it
_CT = "application/x-amz-json-1.1"


class AwsError(Exception):
    """An error the SageMaker API answers (always 4xx: botocore retries 5xx for a minute)."""

    code = "ValidationException"
    status = 400

    def __init__(self, message: str, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status


class ValidationException(AwsError):
    code = "ValidationException"


class ResourceNotFound(AwsError):
    code = "ResourceNotFound"


class ResourceInUse(AwsError):
    code = "ResourceInUse"


class ThrottlingException(AwsError):
    code = "ThrottlingException"


class UnknownOperation(AwsError):
    code = "UnknownOperationException"


def json_response(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body, default=str), status_code=status, media_type=_CT)


def error_response(
    code: str, message: str, status: int = 400, headers: dict[str, str] | None = None
) -> Response:
    # x-amzn-ErrorType is what botocore reads first for JSON protocols.
    return Response(
        json.dumps({"__type": code, "message": message}),
        status_code=status,
        media_type=_CT,
        headers={"x-amzn-ErrorType": code, **(headers or {})},
    )


def arn(region: str, resource: str) -> str:
    return f"arn:aws:sagemaker:{region}:{ACCOUNT}:{resource}"
