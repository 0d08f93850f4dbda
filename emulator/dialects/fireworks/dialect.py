"""`FireworksDialect`: the Fireworks control plane (rlorTrainerJobs, checkpoints, models,
training shapes) and its trainer gateway, on the neutral core."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from starlette.responses import JSONResponse, Response

from ...dialect import Dialect
from ...shapes import ShapeCatalog
from ...states import JobState
from .catalog import PUBLIC_ACCOUNT, fireworks_catalog

if TYPE_CHECKING:
    from fastapi import APIRouter, Request

    from ...errors import ServiceError

__all__ = ["FireworksDialect", "grpc_error_body", "GRPC_HTTP_STATUS", "HTTP_GRPC_CODE"]

GRPC_HTTP_STATUS = {3: 400, 5: 404, 6: 409, 7: 403, 8: 429, 9: 400, 14: 503, 16: 401, 2: 500, 13: 500}
HTTP_GRPC_CODE = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 429: 8, 500: 13, 502: 14, 503: 14, 504: 4}


def grpc_error_body(code: int, message: str) -> dict:
    """The gRPC-gateway error body the Fireworks API answers with."""
    return {"code": code, "message": message, "details": []}


class FireworksDialect(Dialect):
    """What `TrainerJobManager` and the training clients (fireworks-ai 1.2.28, and 1.2.9 over
    tinker) call. Errors are gRPC-gateway bodies `{"code", "message", "details"}`."""

    name = "fireworks"
    prefix = ""
    paths = ("/v1/", "/training/")
    public_tenants = frozenset({PUBLIC_ACCOUNT})

    def routers(self) -> Sequence["APIRouter"]:
        from .routes import control_plane_router
        from .trainer_routes import trainer_router

        return (control_plane_router(), trainer_router())

    def error_response(self, request: "Request | None", status: int, message: str,
                       error: "ServiceError | None" = None,
                       headers: dict[str, str] | None = None) -> Response:
        code = error.grpc_code if error is not None else HTTP_GRPC_CODE.get(status, 2)
        return JSONResponse(grpc_error_body(code, message), status_code=status, headers=headers)

    def wire_state(self, state: JobState) -> str:
        return f"JOB_STATE_{state.value}"

    def resource_name(self, tenant: str, job_id: str) -> str:
        return f"accounts/{tenant}/rlorTrainerJobs/{job_id}"

    def catalog_entries(self) -> ShapeCatalog:
        return fireworks_catalog()
