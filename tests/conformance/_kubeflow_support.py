"""Shared by the Kubeflow conformance tests: an emulator serving `/k8s` on loopback, the real
`TrainerClient` pointed at it, and training functions (their source travels into the pods)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from drydock.emulator import Emulator, FaultPlan
from drydock.emulator.dialects.kubeflow import (
    KubeflowDialect,
    kube_configuration,
    kubeflow_emulator,
    kubernetes_datetimes,
    trainer_client,
)
from drydock.testing import remote_virtual_time, virtual_time


@dataclass
class KubeflowEnv:
    emu: Emulator
    url: str
    client: Any  # kubeflow.trainer.TrainerClient

    @property
    def dialect(self) -> KubeflowDialect:
        return self.emu.dialects[0]  # type: ignore[return-value]

    @contextlib.contextmanager
    def warp(self) -> Iterator[Any]:
        """Client-side virtual time: the SDK's polling sleeps advance the emulator clock."""
        with virtual_time(self.emu) as vt, kubernetes_datetimes():
            yield vt

    def custom_api(self) -> Any:
        """The kubernetes client's CustomObjectsApi on the same server (raw requests)."""
        from kubernetes.client import ApiClient, CustomObjectsApi

        return CustomObjectsApi(ApiClient(kube_configuration(self.url, self.emu.api_key)))

    def core_api(self) -> Any:
        from kubernetes.client import ApiClient, CoreV1Api

        return CoreV1Api(ApiClient(kube_configuration(self.url, self.emu.api_key)))

    def event_reasons(self, name: str) -> list[str]:
        return [e.reason for e in self.client.get_job_events(name)]


@contextlib.contextmanager
def kubeflow_env(seed: int = 0, faults: FaultPlan | None = None,
                 **kwargs: Any) -> Iterator[KubeflowEnv]:
    emu = kubeflow_emulator(seed, faults=faults, **kwargs)
    with emu, emu.serve() as server:
        yield KubeflowEnv(emu, server.url, trainer_client(server.url, emu.api_key))


# ------------------------------------------------------------------ training functions
# Only a function's own source reaches the pod (as on a cluster): imports go inside, and
# bash expands backticks and dollars in it (the SDK's heredoc is unquoted).

def allreduce_ranks():
    import os

    import torch
    import torch.distributed as dist

    dist.init_process_group("gloo")
    t = torch.tensor([float(dist.get_rank() + 1)])
    dist.all_reduce(t)
    print(f"rank={os.environ['RANK']} world={os.environ['WORLD_SIZE']} sum={t.item():.0f}")
    print("env", os.environ["LOCAL_RANK"], os.environ["MASTER_ADDR"],
          os.environ["PET_NNODES"], os.environ["PET_NODE_RANK"], os.environ["PET_NPROC_PER_NODE"])
    dist.destroy_process_group()


def fails_on_purpose():
    print("about to fail")
    raise ValueError("the loss went NaN")


def waits_for_file(gate: str):
    # No backticks or dollars in a function's source: the SDK's unquoted heredoc lets bash
    # expand them (as on a cluster). Prints a line, waits for the gate file, prints more.
    import os
    import time

    print("first line", flush=True)
    for _ in range(6000):
        if os.path.exists(gate):
            break
        time.sleep(0.01)
    print("second line")
    print("no newline at the end", end="")


def preemptible_once(marker: str):
    """The first attempt records itself and waits to be evicted; a restart finishes."""
    import os
    import time

    rank = os.environ["RANK"]
    mine = f"{marker}.{rank}"
    if os.path.exists(mine):
        print(f"rank {rank}: restarted attempt finishes")
        return
    open(mine, "w").close()
    print(f"rank {rank}: first attempt, waiting to be evicted", flush=True)
    time.sleep(120)
    print("never evicted")


@contextlib.contextmanager
def remote_warp(url: str, admin_token: str | None = None) -> Iterator[Any]:
    """Virtual time on a served emulator's clock (`drydock serve`), kubernetes-safe."""
    with remote_virtual_time(url, admin_token) as vt, kubernetes_datetimes():
        yield vt
