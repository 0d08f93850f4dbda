"""The one place this dialect creates core jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drydock.emulator.errors import InvalidArgument, NotFound
from drydock.emulator.records import JobSpec, RestartPolicy

from ._k8s import K8sError

if TYPE_CHECKING:
    from drydock.emulator.control_plane import ControlPlane, Job

__all__ = ["create_core_job", "CORE_MODEL", "NODE_REGION", "NODE_TYPE"]

CORE_MODEL = "kubeflow-trainjob"  # placeholder model: a TrainJob brings its own code
NODE_REGION = "local"
NODE_TYPE = "CPU_NODE"  # one per node pod


def create_core_job(
    cp: ControlPlane,
    tenant: str,
    job_id: str,
    num_nodes: int,
    payload: dict[str, Any],
    max_restarts: int,
) -> Job:
    spec = JobSpec(
        base_model=CORE_MODEL,
        node_count=num_nodes,
        accelerator_count=1,
        accelerator_type=NODE_TYPE,
        region=NODE_REGION,
    )
    # JobSet failurePolicy.maxRestarts: any failure (a pod's exit, an eviction) restarts all.
    restart = RestartPolicy(mode="restart", max_restarts=max_restarts) if max_restarts else None
    try:
        return cp.create_job(tenant, job_id, spec, payload, dialect="kubeflow", restart=restart)
    except (NotFound, InvalidArgument) as exc:
        # The emulator's catalog (given by the user) lacks this dialect's node pool.
        raise K8sError(
            500,
            f"drydock cannot place TrainJob {job_id}: {exc.message} (give the "
            "emulator a catalog that includes KubeflowDialect().catalog_entries())",
            "InternalError",
        ) from None
