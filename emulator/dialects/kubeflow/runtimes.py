"""Built-in ClusterTrainingRuntimes, shaped like the upstream Kubeflow Trainer manifests."""

from __future__ import annotations

import copy
from typing import Any

from ._k8s import API_VERSION

__all__ = [
    "builtin_runtimes",
    "runtime_object",
    "max_restarts",
    "torch_policy",
    "ANCESTOR_LABEL",
    "FRAMEWORK_LABEL",
    "TORCH_IMAGE",
]

FRAMEWORK_LABEL = "trainer.kubeflow.org/framework"
ANCESTOR_LABEL = "trainer.kubeflow.org/trainjob-ancestor-step"
TORCH_IMAGE = "pytorch/pytorch:2.7.1-cuda12.6-cudnn9-runtime"
_CREATED = "2026-01-01T00:00:00Z"


def _runtime(
    name: str,
    framework: str,
    ml_policy: dict[str, Any],
    image: str,
    max_restarts: int | None = None,
    command: list[str] | None = None,
) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "node", "image": image}
    if command:
        container["command"] = command
    spec: dict[str, Any] = {
        "replicatedJobs": [
            {
                "name": "node",
                "template": {
                    "metadata": {"labels": {ANCESTOR_LABEL: "trainer"}},
                    "spec": {"template": {"spec": {"containers": [container]}}},
                },
            }
        ],
    }
    if max_restarts is not None:
        spec["failurePolicy"] = {"maxRestarts": max_restarts}
    return {
        "apiVersion": API_VERSION,
        "kind": "ClusterTrainingRuntime",
        "metadata": {
            "name": name,
            "labels": {FRAMEWORK_LABEL: framework},
            "creationTimestamp": _CREATED,
            "resourceVersion": "1",
            "generation": 1,
            "uid": f"00000000-0000-4000-8000-{sum(map(ord, name)):012d}",
        },
        "spec": {"mlPolicy": ml_policy, "template": {"spec": spec}},
    }


_BUILTINS: list[dict[str, Any]] = [
    # Upstream manifests/base/runtimes/torch_distributed.yaml: no failure policy, so a failed
    # or evicted pod fails the whole job.
    _runtime(
        "torch-distributed",
        "torch",
        {"numNodes": 1, "torch": {"numProcPerNode": "auto"}},
        TORCH_IMAGE,
    ),
    # drydock's own: the same with a JobSet failurePolicy, so an evicted pod restarts the
    # job's pods (up to 3 times) instead of failing it.
    _runtime(
        "torch-distributed-restartable",
        "torch",
        {"numNodes": 1, "torch": {"numProcPerNode": "auto"}},
        TORCH_IMAGE,
        max_restarts=3,
    ),
    # A BuiltinTrainer (torchtune) runtime: listed so the SDK's choices are the real ones;
    # its jobs fail with a clear reason (they need model downloads and GPUs).
    _runtime(
        "torchtune-llama3.2-1b",
        "torchtune",
        {"numNodes": 1, "torch": {"numProcPerNode": "auto"}},
        "ghcr.io/kubeflow/trainer/torchtune-trainer",
        command=["tune", "run"],
    ),
]


def builtin_runtimes() -> list[dict[str, Any]]:
    return copy.deepcopy(_BUILTINS)


def runtime_object(name: str) -> dict[str, Any] | None:
    for rt in _BUILTINS:
        if rt["metadata"]["name"] == name:
            return copy.deepcopy(rt)
    return None


def max_restarts(runtime: dict[str, Any]) -> int:
    policy = runtime.get("spec", {}).get("template", {}).get("spec", {}).get("failurePolicy") or {}
    return int(policy.get("maxRestarts", 0) or 0)


def torch_policy(runtime: dict[str, Any]) -> dict[str, Any] | None:
    return runtime.get("spec", {}).get("mlPolicy", {}).get("torch")
