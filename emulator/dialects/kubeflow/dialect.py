"""`KubeflowDialect`: the slice of the Kubernetes API that the kubeflow SDK's `TrainerClient`
(and kubectl) use, on the neutral core. Mounted under `/k8s`; the bearer token is the API key."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from drydock.emulator.dialect import Dialect
from drydock.emulator.errors import ServiceError
from drydock.emulator.shapes import BaseModelEntry, CapacityPool, ShapeCatalog
from drydock.emulator.states import JobState

from ._core import CORE_MODEL, NODE_REGION, NODE_TYPE, create_core_job
from ._k8s import K8sError, status_response, ts
from ._runtime import PodRuntime
from ._state import KubeflowState, Pod, TrainJobRecord
from ._trainjob import node_env, plan_trainjob, trainjob_object, validate_trainjob
from .runtimes import runtime_object

if TYPE_CHECKING:
    from fastapi import APIRouter, Request
    from starlette.responses import Response

    from drydock.emulator.control_plane import ControlPlane, Job
    from drydock.emulator.emulator import Emulator

__all__ = ["KubeflowDialect"]

S = JobState
_HIDDEN = (S.DELETING, S.DELETED)
_GRPC_TO_HTTP = {3: 422, 5: 404, 6: 409, 7: 403, 9: 409, 16: 401, 8: 429}


class KubeflowDialect(Dialect):
    """The Kubernetes face. `settle_s`: virtual seconds a pod's real compute is modelled as
    (see `_runtime`).

    `anonymous_account`: requests without credentials act as this account, like a cluster's
    old insecure port. kubectl never sends a kubeconfig token to an `http://` server (client-go
    reads credentials only for TLS), so kubectl against `drydock serve` needs it. Default: the
    environment variable DRYDOCK_KUBEFLOW_ANONYMOUS (unset: every request needs a token)."""

    name = "kubeflow"
    event_kinds = ("kubeflow.event",)  # Kubernetes Events: detail object, reason, message
    json_bodies = True  # create bodies in JSON only: another media type is a 415 Status
    prefix = "/k8s"

    def __init__(
        self,
        *,
        settle_s: float = 5.0,
        max_wait_s: float = 600.0,
        anonymous_account: str | None = None,
    ) -> None:
        self.anonymous_account = (
            anonymous_account or os.environ.get("DRYDOCK_KUBEFLOW_ANONYMOUS") or None
        )
        self.state = KubeflowState()
        self._settle_s, self._max_wait_s = settle_s, max_wait_s
        self._cp: ControlPlane | None = None
        self._runtime: PodRuntime | None = None

    # ------------------------------------------------------------------ seam
    def routers(self) -> Sequence[APIRouter]:
        from .routes import build_router

        return [build_router(self)]

    # PodRuntime.attach takes the plane itself, not the TrainerHost port
    def runtime(self) -> PodRuntime:  # type: ignore[override]
        """The runtime of this dialect's jobs: real processes per node pod."""
        if self._runtime is None:
            self._runtime = PodRuntime(
                lambda: self.state, settle_s=self._settle_s, max_wait_s=self._max_wait_s
            )
            self._runtime.on_event = self.record_event
            self._runtime.on_stopped = self._on_stopped
            self._runtime.on_attach = self.bind
            self._runtime.on_restart = self._new_pods
        return self._runtime

    def attach(self, emulator: Emulator) -> None:
        self.bind(emulator.control_plane)

    def bind(self, cp: ControlPlane) -> None:
        """Use this control plane (a new one after a reset: forget the old jobs)."""
        if self._cp is not cp:
            self.state = KubeflowState()
            self._cp = cp

    @property
    def cp(self) -> ControlPlane:
        if self._cp is None:
            raise RuntimeError("KubeflowDialect is not mounted on an emulator")
        return self._cp

    def error_response(
        self,
        request: Request | None,
        status: int,
        message: str,
        error: ServiceError | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        return status_response(status, message, headers=headers)

    def wire_state(self, state: JobState) -> str:
        return {S.COMPLETED: "Complete", S.FAILED: "Failed", S.RUNNING: "Running"}.get(
            state, "Created"
        )

    def resource_name(self, tenant: str, job_id: str) -> str:
        return f'trainjobs.trainer.kubeflow.org "{job_id}" in {tenant}'

    def catalog_entries(self) -> ShapeCatalog:
        """Node pods are CPU processes: a pool of local nodes, and a placeholder model (the
        TrainJob brings its own code)."""
        return ShapeCatalog(
            models=[BaseModelEntry(name=CORE_MODEL, display_name="TrainJob")],
            training_shapes=[],
            default_region=NODE_REGION,
            pools=[CapacityPool(region=NODE_REGION, accelerator_type=NODE_TYPE, accelerators=64)],
        )

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def tenant(account: str, namespace: str) -> str:
        return f"{account}/{namespace}"

    def core_error(self, exc: ServiceError) -> K8sError:
        return K8sError(_GRPC_TO_HTTP.get(exc.grpc_code, 500), exc.message)

    def record_event(
        self,
        rec: TrainJobRecord,
        kind: str,
        name: str,
        reason: str,
        message: str,
        warning: bool = False,
        uid: str | None = None,
    ) -> None:
        """A Kubernetes Event (served by /events) and the same fact in the core's event log."""
        cp = self.cp
        now = cp.now()
        events = self.state.events.setdefault((rec.tenant, rec.namespace), [])
        if uid is None:  # kubectl describe selects an object's events by uid
            uid = (
                rec.manifest["metadata"].get("uid")
                if kind == "TrainJob"
                else next((p.uid for p in rec.pods if p.name == name), None)
            )
        suffix = cp.rng.hex_id("kubeflow.events", 16)
        events.append(
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {
                    "name": f"{name}.{suffix}",
                    "namespace": rec.namespace,
                    "creationTimestamp": ts(now),
                    "resourceVersion": str(len(events) + 1),
                },
                "involvedObject": {
                    "apiVersion": "v1" if kind == "Pod" else "trainer.kubeflow.org/v1alpha1",
                    "kind": kind,
                    "name": name,
                    "namespace": rec.namespace,
                    **({"uid": uid} if uid else {}),
                },
                "reason": reason,
                "message": message,
                "type": "Warning" if warning else "Normal",
                "firstTimestamp": ts(now),
                "lastTimestamp": ts(now),
                "count": 1,
                "source": {"component": "drydock"},
            }
        )
        cp.log(
            "kubeflow.event",
            rec.tenant,
            rec.name,
            object=f"{kind}/{name}",
            reason=reason,
            message=message,
        )

    def _new_pods(self, rec: TrainJobRecord) -> list[Pod]:
        cp = self.cp
        rng = cp.rng.stream("kubeflow.pods")
        pods = []
        for i in range(rec.num_nodes):
            suffix = "".join(rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
            pod = Pod(
                name=f"{rec.name}-node-0-{i}-{suffix}",
                namespace=rec.namespace,
                job=rec.name,
                index=i,
                attempt=rec.attempt,
                uid=_uid(cp.rng.hex_id("kubeflow.uids", 32)),
                created=cp.now(),
                command=list(rec.manifest["_command"]),
                env=node_env(rec, i),
                image=rec.manifest["_image"],
                resources=(rec.manifest["spec"].get("trainer") or {}).get("resourcesPerNode"),
            )
            pods.append(pod)
            self.record_event(
                rec,
                "Pod",
                pod.name,
                "Scheduled",
                f"Successfully assigned {rec.namespace}/{pod.name} to drydock-node-{i}",
            )
        # A JobSet restart deletes the old pods (their Events stay in the namespace).
        rec.pods = pods
        return pods

    # ------------------------------------------------------------------ TrainJobs
    def create(self, account: str, namespace: str, body: Any) -> tuple[TrainJobRecord, Job]:
        manifest = validate_trainjob(body, namespace)
        name = manifest["metadata"]["name"]
        ref = manifest["spec"]["runtimeRef"]
        runtime = (
            runtime_object(ref["name"])
            if ref.get("kind", "ClusterTrainingRuntime") == "ClusterTrainingRuntime"
            else None
        )
        if runtime is None:
            raise K8sError.invalid(
                "TrainJob",
                name,
                [
                    (
                        "spec.runtimeRef",
                        f'Invalid value: "{ref["name"]}": '
                        f"{ref.get('kind', 'ClusterTrainingRuntime')} {ref['name']} not found",
                    )
                ],
            )
        cp = self.cp
        tenant = self.tenant(account, namespace)
        with cp.lock:
            cp.tick()
            old = cp.jobs.get((tenant, name))
            if self.state.job(tenant, name) is not None or (old and old.state != S.DELETED):
                being_deleted = (
                    "object is being deleted: " if old and old.state == S.DELETING else ""
                )
                raise K8sError(
                    409,
                    f'{being_deleted}trainjobs.trainer.kubeflow.org "{name}" already exists',
                    "AlreadyExists",
                    details={"name": name, "group": "trainer.kubeflow.org", "kind": "trainjobs"},
                )
            if old is not None:
                # A deleted TrainJob's name is free again in Kubernetes; the core keeps
                # tombstones, so forget this one (and its checkpoint rows) now.
                cp.forget_job(tenant, name)
            meta = manifest["metadata"]
            meta.update(
                namespace=namespace,
                uid=_uid(cp.rng.hex_id("kubeflow.uids", 32)),
                resourceVersion="1",
                generation=1,
                creationTimestamp=ts(cp.now()),
            )
            spec = manifest["spec"]
            spec.setdefault("managedBy", "trainer.kubeflow.org/trainjob-controller")
            spec.setdefault("suspend", False)
            spec["runtimeRef"].setdefault("kind", "ClusterTrainingRuntime")
            spec["runtimeRef"].setdefault("apiGroup", "trainer.kubeflow.org")
            rec = plan_trainjob(tenant, namespace, manifest, runtime)
            self.state.jobs[(tenant, name)] = rec
            try:
                job = create_core_job(
                    cp,
                    tenant,
                    name,
                    rec.num_nodes,
                    {"namespace": namespace, "runtime": ref["name"]},
                    rec.max_restarts,
                )
            except ServiceError as exc:
                del self.state.jobs[(tenant, name)]
                raise self.core_error(exc) from None
            self.record_event(
                rec, "TrainJob", name, "JobsCreationSucceeded", "Succeeded to create Jobs"
            )
            self._new_pods(rec)
            deadline = manifest["spec"].get("activeDeadlineSeconds")
            if deadline:
                cp.clock.schedule(
                    float(deadline), lambda: self._deadline(job, rec, deadline), "kubeflow.deadline"
                )
            return rec, job

    def lookup(self, account: str, namespace: str, name: str) -> tuple[TrainJobRecord, Job]:
        tenant = self.tenant(account, namespace)
        rec = self.state.job(tenant, name)
        job = self.cp.jobs.get((tenant, name))
        if rec is None or job is None or job.state in _HIDDEN:
            raise K8sError.not_found("trainjobs", name)
        return rec, job

    def list(self, account: str, namespace: str) -> list[tuple[TrainJobRecord, Job]]:
        tenant = self.tenant(account, namespace)
        out = []
        for (t, name), rec in self.state.jobs.items():
            job = self.cp.jobs.get((t, name))
            if t == tenant and job is not None and job.state not in _HIDDEN:
                out.append((rec, job))
        return out

    def delete(self, account: str, namespace: str, name: str) -> TrainJobRecord:
        cp = self.cp
        with cp.lock:
            cp.tick()
            rec, job = self.lookup(account, namespace, name)
            self.record_event(rec, "TrainJob", name, "Deleted", "TrainJob deleted by client")
            cp.delete_job(job.account, job.id)
            # Upstream the JobSet and its pods go with the TrainJob (owner references).
            del self.state.jobs[(rec.tenant, name)]
            return rec

    # ------------------------------------------------------------------ core -> wire
    def _on_stopped(self, job: Job, reason: str) -> None:
        rec = self.state.job(job.account, job.id)
        if rec is None:
            return
        cp = self.cp
        rec.finished = cp.now()
        if job.state == S.COMPLETED:
            self.record_event(
                rec, "TrainJob", rec.name, "AllJobsCompleted", "jobset completed successfully"
            )
        elif job.state == S.FAILED:
            rec.failure = (
                ("Unsupported", rec.unsupported)
                if rec.unsupported
                else ("FailedJobs", f"jobset failed due to one or more job failures: {reason}")
            )
            # The core applies the restart policy right after this transition: look then.
            cp.clock.schedule(0.0, lambda: self._after_failure(job, rec, reason), "kubeflow.failed")

    def _after_failure(self, job: Job, rec: TrainJobRecord, reason: str) -> None:
        with self.cp.lock:
            if self.state.job(job.account, job.id) is not rec:
                return
            if job.restarts > rec.attempt:
                self.record_event(
                    rec,
                    "JobSet",
                    rec.name,
                    "Restarting",
                    f"restarting the jobset after a failure ({reason}): restart "
                    f"{job.restarts} of {job.restart.max_restarts}",
                    warning=True,
                )
            else:
                message = rec.failure[1] if rec.failure else reason
                self.record_event(rec, "JobSet", rec.name, "FailedJobs", message, warning=True)

    def _deadline(self, job: Job, rec: TrainJobRecord, seconds: int) -> None:
        """spec.activeDeadlineSeconds passed: the job fails for good (no restart)."""
        cp = self.cp
        with cp.lock:
            if self.state.job(job.account, job.id) is not rec or job.state not in (
                S.PENDING,
                S.CREATING,
                S.RUNNING,
                S.IDLE,
            ):
                return
            message = f"TrainJob exceeded its activeDeadlineSeconds ({seconds} s)"
            rec.failure, rec.finished = ("DeadlineExceeded", message), cp.now()
            self.record_event(rec, "TrainJob", rec.name, "DeadlineExceeded", message, warning=True)
            # Cancelled, not failed: the core's restart policy must not bring it back.
            cp.cancel_job(job.account, job.id, message)

    def render(self, rec: TrainJobRecord, job: Job) -> dict[str, Any]:
        return trainjob_object(
            rec,
            job.state.value,  # type: ignore[union-attr]
            self.restart_pending(rec, job),
        )

    def shown_state(self, rec: TrainJobRecord, job: Job) -> str:
        """The status the SDK derives (conditions first, then the node pods' phases)."""
        conds = self.render(rec, job)["status"].get("conditions") or []
        if conds:
            return conds[-1]["type"]
        nodes = [p for p in rec.pods if p.phase in ("Running", "Succeeded")]
        return "Running" if rec.pods and len(nodes) == rec.num_nodes else "Created"

    def restart_pending(self, rec: TrainJobRecord, job: Job) -> bool:
        """FAILED, with the core about to start it again (JobSet failurePolicy.maxRestarts)."""
        return job.state == S.FAILED and job.restarts > rec.attempt


def _uid(hex32: str) -> str:
    return f"{hex32[:8]}-{hex32[8:12]}-4{hex32[13:16]}-8{hex32[17:20]}-{hex32[20:32]}"
