"""`FireworksDialect`: the Fireworks control plane (rlorTrainerJobs, checkpoints, models,
training shapes) and its trainer gateway, on the neutral core."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from starlette.responses import JSONResponse, Response

from ..._http import GRPC_HTTP_STATUS, STATUS_GRPC
from ...dialect import Dialect
from ...shapes import ShapeCatalog
from ...states import JobState
from .catalog import PUBLIC_ACCOUNT, fireworks_catalog

if TYPE_CHECKING:
    from fastapi import APIRouter, Request

    from ...emulator import Emulator
    from ...errors import ServiceError

__all__ = ["FireworksDialect", "grpc_error_body", "GRPC_HTTP_STATUS", "HTTP_GRPC_CODE"]

# The core's errors already carry gRPC codes; the HTTP mapping is the one drydock's own routes use.
HTTP_GRPC_CODE = STATUS_GRPC


def grpc_error_body(code: int, message: str) -> dict:
    """The gRPC-gateway error body the Fireworks API answers with."""
    return {"code": code, "message": message, "details": []}


class FireworksDialect(Dialect):
    """What `TrainerJobManager` and the training clients (fireworks-ai 1.2.28, and 1.2.9 over
    tinker) call. Errors are gRPC-gateway bodies `{"code", "message", "details"}`."""

    name = "fireworks"
    prefix = ""
    paths = ("/v1/", "/training/", "/hot_load/", "/inference/")
    public_tenants = frozenset({PUBLIC_ACCOUNT})
    event_kinds = tuple(
        f"deployment.{k}"
        for k in (
            "created",
            "updated",
            "deleted",
            "hot_loaded",
            "hot_load_failed",
            "replica_started",
            "replica_reset",
            "replica_unavailable",
        )
    ) + ("serverless.session_created", "serverless.run_created", "serverless.session_deleted")
    # The trainer wire carries token batches: far more than a control-plane body.
    body_limits = {"/training/": 64 * 1024 * 1024}
    json_bodies = True  # a body under another content type is a 415
    openapi_security = {
        "ApiKey": {
            "type": "apiKey",
            "in": "header",
            "name": "X-Api-Key",
            "description": "An account's API key",
        }
    }

    def openapi_error_example(self, path: str) -> dict | None:
        """The gRPC-gateway error body, on the control plane and trainer wire (the inference
        and hot-load routes answer in their own formats)."""
        return grpc_error_body(3, "example") if path.startswith(("/v1/", "/training/")) else None

    serving_device: str | None = None  # deployments' device (None: cuda when available)
    # Trainers (non-LoRA) and deployments advertise RDMA weight sync, so the SDK's
    # `weight_sync()` publishes through the trainer's /api/v1/weight_sync route.
    rdma_weight_sync: bool = False
    options = ("rdma_weight_sync", "serving_device")

    def routers(self) -> Sequence[APIRouter]:
        from ._hot_load import hot_load_router
        from ._sampling_routes import sampling_router
        from ._serverless_gateway import serverless_router
        from ._serverless_routes import training_sessions_router
        from ._serverless_sampling import serverless_sampling_router
        from .deployments import deployments_router
        from .routes import control_plane_router
        from .trainer_routes import trainer_router

        return (
            control_plane_router(),
            trainer_router(),
            deployments_router(self.serving),
            hot_load_router(self.serving),
            sampling_router(self.serving),
            serverless_router(),
            serverless_sampling_router(self.serving),
            training_sessions_router(),
        )

    # Deployments are core jobs of their own job dialect, run by a serving runtime (not a
    # trainer): registered on each new control plane.
    def attach(self, emulator: Emulator) -> None:
        from ._sampling_runtime import ServingRuntime
        from .deployments import DEPLOYMENT_DIALECT

        cp = emulator.control_plane
        runtime = ServingRuntime(device=self.serving_device)
        runtime.rdma_weight_sync = self.rdma_weight_sync
        runtime.attach(cp)
        # attach() takes the plane itself, not the TrainerHost port: a runtime all the same
        cp.runtimes[DEPLOYMENT_DIALECT] = runtime  # type: ignore[assignment]
        cp.resource_namers[DEPLOYMENT_DIALECT] = lambda tenant, job_id: (
            f"accounts/{tenant}/deployments/{job_id.split(':')[1]}"
        )
        # Serverless sessions are core jobs too, trained by the Fireworks trainers' runtime.
        from ._serverless_sessions import SESSION_DIALECT

        if self.name in cp.runtimes:
            cp.runtimes[SESSION_DIALECT] = cp.runtimes[self.name]
        cp.resource_namers[SESSION_DIALECT] = lambda tenant, job_id: (
            f"accounts/{tenant}/trainingSessions/{job_id}"
        )

    @staticmethod
    def serving(cp):
        """`cp`'s ServingRuntime (the one `attach` registered on it)."""
        from .deployments import DEPLOYMENT_DIALECT

        return cp.runtimes[DEPLOYMENT_DIALECT]

    def error_response(
        self,
        request: Request | None,
        status: int,
        message: str,
        error: ServiceError | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        code = error.grpc_code if error is not None else HTTP_GRPC_CODE.get(status, 2)
        body = grpc_error_body(code, message)
        path = request.url.path if request is not None else ""
        if path.startswith(("/inference/", "/training/v1/serverless/inference/")):
            # The inference API's `error` object too (what the sampler's error parsing reads),
            # beside the gateway fields every Fireworks path documents.
            body["error"] = {
                "code": error.grpc_name if error is not None else str(status),
                "message": message,
                "type": "invalid_request_error" if status < 500 else "server_error",
            }
            return JSONResponse(body, status_code=status, headers=headers)
        return JSONResponse(grpc_error_body(code, message), status_code=status, headers=headers)

    def wire_state(self, state: JobState) -> str:
        return f"JOB_STATE_{state.value}"

    def resource_name(self, tenant: str, job_id: str) -> str:
        return f"accounts/{tenant}/rlorTrainerJobs/{job_id}"

    def catalog_entries(self) -> ShapeCatalog:
        return fireworks_catalog()
