"""`SageMakerDialect`: SageMaker's face on the neutral core.

Its HTTP face is not mounted on the emulator's app: the AWS SDK reaches every service through one
endpoint (S3 path-style URLs included), so the dialect serves its own listener
(`AwsEndpointServer`) that also fronts moto and MLflow. Jobs are core jobs of tenant
`sagemaker`; `runtime()` is the TrainerRuntime that trains them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drydock.emulator.dialect import Dialect
from drydock.emulator.states import JobState

from ._hub import HubModel
from ._runtime import RunTimings, SageMakerRuntime
from ._service import SageMakerService
from ._training import RewardFn
from ._wire import error_response

if TYPE_CHECKING:
    from starlette.responses import Response

    from drydock.emulator.emulator import Emulator

__all__ = ["SageMakerDialect"]

_STATES = {
    JobState.PENDING: "InProgress",
    JobState.CREATING: "InProgress",
    JobState.RUNNING: "InProgress",
    JobState.IDLE: "InProgress",
    JobState.COMPLETED: "Completed",
    JobState.FAILED: "Failed",
    JobState.CANCELLING: "Stopping",
    JobState.CANCELLED: "Stopped",
}


class SageMakerDialect(Dialect):
    name = "sagemaker"
    event_kinds = ("sagemaker.capacity_error", "sagemaker.limit")
    prefix = ""
    paths = ()

    def __init__(
        self,
        region: str = "us-west-2",
        *,
        models: list[HubModel] | None = None,
        reward_functions: dict[str, RewardFn] | None = None,
        timings: RunTimings | None = None,
    ) -> None:
        self.service = SageMakerService(region, models, reward_functions)
        self._runtime = SageMakerRuntime(self.service, timings)

    # SageMakerRuntime.attach takes the plane itself, not the TrainerHost port
    def runtime(self) -> SageMakerRuntime:  # type: ignore[override]
        return self._runtime

    def attach(self, emulator: Emulator) -> None:
        self.service.attach(emulator.control_plane)

    def error_response(
        self,
        request: Any,
        status: int,
        message: str,
        error: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        code = {404: "ResourceNotFound", 409: "ResourceInUse", 429: "ThrottlingException"}.get(
            status, "ValidationException"
        )
        # Never a 5xx: botocore retries those for about a minute per call.
        return error_response(
            code, message, 400 if status >= 500 or status == 429 else status, headers
        )

    def wire_state(self, state: JobState) -> str:
        return _STATES.get(state, "InProgress")

    def catalog_entries(self):
        from drydock.emulator.shapes import BaseModelEntry, CapacityPool, ShapeCatalog

        from ._hub import INSTANCE_POOLS

        svc = self.service
        return ShapeCatalog(
            models=[
                BaseModelEntry(name=m.catalog_model, display_name=m.display_name)
                for m in svc.models.values()
            ],
            training_shapes=[],
            pools=[
                CapacityPool(region=svc.region, accelerator_type=t, accelerators=n)
                for t, n in INSTANCE_POOLS.items()
            ],
            default_region=svc.region,
        )

    def operation_names(self) -> list[str]:
        """The SageMaker operations (X-Amz-Target) its AWS endpoint serves: `sagemaker.<Op>`."""
        from ._service import SageMakerService

        return sorted(n[3:] for n in dir(SageMakerService) if n.startswith("op_"))

    def start_listeners(
        self, emulator: Emulator, host: str, port: int | None, echo: Any
    ) -> list[Any]:
        """The AWS endpoint on a listener of its own: S3 path-style URLs (/bucket/key) would
        collide with other dialects' paths on the main port."""
        from ._stack import AwsStack

        aws = AwsStack(emulator=emulator, host=host, port=8766 if port is None else port).start()
        echo(f"drydock aws endpoint {aws.url}")
        echo(f"  (set AWS_ENDPOINT_URL={aws.url}; docs/sagemaker.md lists the rest)")
        return [aws.close]

    def resource_name(self, tenant: str, job_id: str) -> str:
        rec = self.service.record_for(job_id)
        return rec.arn if rec else f"training-job/{job_id}"
