"""The one place this dialect creates core jobs (so adapting to the core's signature is local)."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from drydock.emulator.control_plane import ControlPlane, Job

__all__ = ["create_core_job"]


def create_core_job(cp: "ControlPlane", tenant: str, job_id: str, num_nodes: int,
                    payload: dict[str, Any]) -> "Job":
    from drydock.emulator.records import JobSpec

    params = inspect.signature(cp.create_job).parameters
    if "payload" in params:  # the neutral core: a dialect-owned payload
        spec = JobSpec(base_model=cp.catalog.models[0].name, node_count=num_nodes,
                       accelerator_count=1)
        return cp.create_job(tenant, job_id, spec, dialect="kubeflow", payload=payload)
    # Today's core: a job needs a catalog model and a capacity pool; CPU pods borrow the
    # default pool (one accelerator per node) until dialects can bring their own pools.
    spec = JobSpec(base_model=cp.catalog.models[0].name, node_count=num_nodes,
                   accelerator_count=1)
    return cp.create_job(tenant, job_id, spec, annotations={"dialect": "kubeflow", **payload})
