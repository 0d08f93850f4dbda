"""TrainJob manifests: validation (422 Invalid as the webhook answers), what drydock runs for
them, and how their status, pods and events are rendered."""

from __future__ import annotations

import copy
from typing import Any

from ._k8s import API_VERSION, NAME_RE, K8sError, ts
from ._runtime import RESERVED_ENV
from ._state import Pod, TrainJobRecord
from .runtimes import ANCESTOR_LABEL, FRAMEWORK_LABEL, max_restarts, torch_policy

__all__ = [
    "validate_trainjob",
    "plan_trainjob",
    "node_env",
    "trainjob_object",
    "pod_object",
    "conditions",
]

_MAX_ITEMS, _MAX_ITEM_LEN, _MAX_PATCHES = 128, 65536, 16


def validate_trainjob(body: Any, namespace: str) -> dict[str, Any]:
    """The TrainJob as stored, or K8sError(422/400). Checks what the Trainer webhook checks."""
    if not isinstance(body, dict):
        raise K8sError(
            400, "the body of the request was in an unknown format: expected a TrainJob object"
        )
    meta: dict[str, Any] = body["metadata"] if isinstance(body.get("metadata"), dict) else {}
    name = str(meta.get("name") or "")
    causes: list[tuple[str, str]] = []
    if body.get("kind") not in (None, "TrainJob"):
        raise K8sError(
            400,
            f"the kind of the object ({body.get('kind')}) does not match the resource (trainjobs)",
            "BadRequest",
        )
    if body.get("apiVersion") not in (None, API_VERSION):
        raise K8sError(
            400,
            f"the API version in the data ({body.get('apiVersion')}) does not "
            f"match the expected API version ({API_VERSION})",
            "BadRequest",
        )
    if not name:
        causes.append(("metadata.name", "Required value: name or generateName is required"))
    elif len(name) > 63 or not NAME_RE.match(name):
        causes.append(
            (
                "metadata.name",
                f'Invalid value: "{name}": a lowercase RFC 1035 label '
                "must consist of lower case alphanumeric characters or '-', start with an "
                "alphabetic character, and end with an alphanumeric character (e.g. "
                "'my-name',  or 'abc-123', regex used for validation is "
                "'[a-z]([-a-z0-9]*[a-z0-9])?')",
            )
        )
    if meta.get("namespace") not in (None, namespace):
        raise K8sError(
            400,
            "the namespace of the provided object does not match the namespace sent on the request",
            "BadRequest",
        )
    spec = body.get("spec")
    if not isinstance(spec, dict):
        causes.append(("spec", "Required value"))
        spec = {}
    ref = spec.get("runtimeRef")
    if not isinstance(ref, dict) or not ref.get("name"):
        causes.append(("spec.runtimeRef.name", "Required value"))
    elif ref.get("kind", "ClusterTrainingRuntime") not in (
        "ClusterTrainingRuntime",
        "TrainingRuntime",
    ):
        causes.append(
            (
                "spec.runtimeRef.kind",
                f'Unsupported value: "{ref.get("kind")}": '
                'supported values: "ClusterTrainingRuntime", "TrainingRuntime"',
            )
        )
    trainer = spec.get("trainer") or {}
    if not isinstance(trainer, dict):
        causes.append(("spec.trainer", "Invalid value: must be an object"))
        trainer = {}
    nodes = trainer.get("numNodes")
    if nodes is not None and (not isinstance(nodes, int) or isinstance(nodes, bool) or nodes < 1):
        causes.append(
            (
                "spec.trainer.numNodes",
                f"Invalid value: {nodes!r}: must be an integer greater than or equal to 1",
            )
        )
    env = trainer.get("env") or []
    if not isinstance(env, list) or not all(isinstance(e, dict) and e.get("name") for e in env):
        causes.append(("spec.trainer.env", "Invalid value: each item needs a name"))
    else:
        reserved = [e["name"] for e in env if e["name"] in RESERVED_ENV]
        if reserved:
            causes.append(
                (
                    "spec.trainer.env",
                    "Invalid value: must not have reserved envs, "
                    f"invalid envs configured: {reserved}",
                )
            )
    for key in ("command", "args"):
        items = trainer.get(key)
        if items is None:
            continue
        if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
            causes.append((f"spec.trainer.{key}", "Invalid value: must be a list of strings"))
        elif len(items) > _MAX_ITEMS:
            causes.append(
                (
                    f"spec.trainer.{key}",
                    f"Too many: {len(items)}: must have at most {_MAX_ITEMS} items",
                )
            )
        elif any(len(x) > _MAX_ITEM_LEN for x in items):
            causes.append(
                (f"spec.trainer.{key}", f"Too long: may not be longer than {_MAX_ITEM_LEN}")
            )
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and (not isinstance(deadline, int) or deadline < 1):
        causes.append(
            (
                "spec.activeDeadlineSeconds",
                f"Invalid value: {deadline!r}: must be greater than or equal to 1",
            )
        )
    if len(spec.get("runtimePatches") or []) > _MAX_PATCHES:
        causes.append(("spec.runtimePatches", f"Too many: must have at most {_MAX_PATCHES} items"))
    if causes:
        raise K8sError.invalid("TrainJob", name or "<unnamed>", causes)
    return copy.deepcopy(body)


def _nproc(policy: dict[str, Any] | None, trainer: dict[str, Any]) -> int:
    """PET_NPROC_PER_NODE as the torch plugin resolves it, with `auto` on CPU meaning 1
    (torchrun's own `auto` would start os.cpu_count() workers)."""
    want = (policy or {}).get("numProcPerNode", "auto")
    if isinstance(want, int) or (isinstance(want, str) and want.isdigit()):
        return max(1, int(want))
    limits = (trainer.get("resourcesPerNode") or {}).get("limits") or {}
    if want in ("auto", "cpu") and "cpu" in limits and not any("gpu" in k for k in limits):
        try:
            return max(
                1,
                int(
                    float(str(limits["cpu"]).rstrip("m"))
                    / (1000 if str(limits["cpu"]).endswith("m") else 1)
                ),
            )
        except ValueError:
            return 1
    return 1


def _unsupported(runtime: dict[str, Any], spec: dict[str, Any], command: list[str]) -> str | None:
    if runtime["metadata"].get("labels", {}).get(FRAMEWORK_LABEL) == "torchtune":
        return (
            "BuiltinTrainer (torchtune) jobs are not run by drydock: they download models "
            "and need GPUs; use a CustomTrainer on a torch runtime"
        )
    if spec.get("initializer"):
        return (
            "dataset/model initializers are not run by drydock: they download from "
            "Hugging Face or S3; load data inside the training function instead"
        )
    if not command:
        return (
            "drydock runs commands on this host, not container images: this TrainJob has "
            "no command (CustomTrainerContainer needs TrainerCommand)"
        )
    script = " ".join(command)
    if "PACKAGES=(" in script and "pip install" in script:
        return (
            "packages_to_install is refused by drydock: the install would change drydock's "
            "own Python environment; install the packages there before the test instead"
        )
    return None


def plan_trainjob(
    tenant: str, namespace: str, manifest: dict[str, Any], runtime: dict[str, Any]
) -> TrainJobRecord:
    spec = manifest["spec"]
    trainer = spec.get("trainer") or {}
    rjobs = runtime["spec"]["template"]["spec"]["replicatedJobs"]
    node_rjob = next(
        (
            r
            for r in rjobs
            if ANCESTOR_LABEL in (r["template"].get("metadata") or {}).get("labels", {})
        ),
        rjobs[0],
    )
    container = next(
        c
        for c in node_rjob["template"]["spec"]["template"]["spec"]["containers"]
        if c["name"] == "node"
    )
    policy = runtime["spec"].get("mlPolicy") or {}
    num_nodes = trainer.get("numNodes") or policy.get("numNodes") or 1
    # A TrainJob's command/args replace the container's, as Kubernetes does.
    command = list(trainer.get("command") or container.get("command") or [])
    args = list(trainer.get("args") or container.get("args") or [])
    nproc = _nproc(torch_policy(runtime), trainer)
    rec = TrainJobRecord(
        tenant,
        namespace,
        manifest["metadata"]["name"],
        manifest,
        runtime,
        num_nodes,
        nproc,
        max_restarts(runtime),
    )
    rec.unsupported = _unsupported(runtime, spec, command)
    rec.manifest["_command"] = command + args  # stripped when rendered
    rec.manifest["_image"] = trainer.get("image") or container.get("image", "")
    env: dict[str, str] = {e["name"]: str(e.get("value", "")) for e in container.get("env", [])}
    env.update({e["name"]: str(e.get("value", "")) for e in trainer.get("env") or []})
    rec.manifest["_env"] = env
    return rec


def node_env(rec: TrainJobRecord, index: int) -> list[dict[str, str]]:
    env = [{"name": k, "value": v} for k, v in rec.manifest["_env"].items()]
    if torch_policy(rec.runtime) is not None:
        env += [
            {"name": "PET_NNODES", "value": str(rec.num_nodes)},
            {"name": "PET_NPROC_PER_NODE", "value": str(rec.nproc_per_node)},
            {"name": "PET_NODE_RANK", "value": str(index)},
            {"name": "PET_MASTER_ADDR", "value": "127.0.0.1"},
        ]
        # PET_MASTER_PORT: a free port per attempt, set when the processes start.
    return env


def conditions(rec: TrainJobRecord, state: str, restarting: bool = False) -> list[dict[str, str]]:
    """No condition while the job runs: SDK 0.5.0 reads Running only from pods when there is
    none. Terminal: the condition the controller copies from the JobSet, all five fields."""
    at = ts(rec.finished or 0)
    if state == "COMPLETED":
        return [
            {
                "type": "Complete",
                "status": "True",
                "reason": "AllJobsCompleted",
                "message": "jobset completed successfully",
                "lastTransitionTime": at,
            }
        ]
    if (
        state in ("FAILED", "CANCELLING", "CANCELLED")
        and rec.failure is not None
        and not restarting
    ):
        reason, message = rec.failure
        return [
            {
                "type": "Failed",
                "status": "True",
                "reason": reason,
                "message": message,
                "lastTransitionTime": at,
            }
        ]
    return []


def trainjob_object(rec: TrainJobRecord, state: str, restarting: bool = False) -> dict[str, Any]:
    obj = {k: copy.deepcopy(v) for k, v in rec.manifest.items() if not k.startswith("_")}
    conds = conditions(rec, state, restarting)
    obj["status"] = {"conditions": conds} if conds else {}
    return obj


def pod_object(pod: Pod) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "node",
        "image": pod.image,
        "command": pod.command,
        "env": pod.env,
    }
    if pod.resources:
        container["resources"] = pod.resources
    status: dict[str, Any] = {"phase": pod.phase}
    if pod.started is not None:
        status["startTime"] = ts(pod.started)
        state: dict[str, Any] = {"running": {"startedAt": ts(pod.started)}}
        if pod.finished is not None:
            state = {
                "terminated": {
                    "exitCode": pod.exit_code if pod.exit_code is not None else 137,
                    "reason": pod.reason or "Completed",
                    "startedAt": ts(pod.started),
                    "finishedAt": ts(pod.finished),
                }
            }
        status["containerStatuses"] = [
            {
                "name": "node",
                "image": pod.image,
                "imageID": "",
                "ready": pod.phase == "Running",
                "restartCount": 0,
                "started": pod.phase == "Running",
                "state": state,
            }
        ]
    if pod.reason:
        status["reason"] = pod.reason
    if pod.message:
        status["message"] = pod.message
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod.name,
            "namespace": pod.namespace,
            "uid": pod.uid,
            "labels": pod.labels,
            "resourceVersion": "1",
            "annotations": {"batch.kubernetes.io/job-completion-index": str(pod.index)},
            "creationTimestamp": ts(pod.created),
        },
        "spec": {
            "containers": [container],
            "restartPolicy": "Never",
            "nodeName": f"drydock-node-{pod.index}",
        },
        "status": status,
    }
