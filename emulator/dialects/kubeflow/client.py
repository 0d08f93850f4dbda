"""Pointing the real clients at the dialect: the kubernetes `Configuration` for a drydock URL,
a ready `TrainerClient`, an emulator serving only `/k8s`, and timestamps under virtual time."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from drydock.emulator.emulator import Emulator

    from .dialect import KubeflowDialect

__all__ = ["kube_configuration", "trainer_client", "kubeflow_emulator", "kubernetes_datetimes"]


def kube_configuration(url: str, api_key: str) -> Any:
    """A `kubernetes.client.Configuration` for `drydock serve` at `url` (or a ServerThread's
    `.url`): host `<url>/k8s`, the API key as the bearer token."""
    from kubernetes.client import Configuration  # type: ignore[import-untyped]

    cfg = Configuration(host=url.rstrip("/") + "/k8s")
    cfg.api_key = {"authorization": api_key}
    cfg.api_key_prefix = {"authorization": "Bearer"}
    return cfg


def trainer_client(url: str, api_key: str, namespace: str = "default") -> Any:
    """The real `kubeflow.trainer.TrainerClient`, on the Kubernetes backend, against drydock."""
    from kubeflow.common.types import KubernetesBackendConfig
    from kubeflow.trainer import TrainerClient

    return TrainerClient(
        KubernetesBackendConfig(
            namespace=namespace, client_configuration=kube_configuration(url, api_key)
        )
    )


def kubeflow_emulator(
    seed: int = 0, dialect: KubeflowDialect | None = None, **kwargs: Any
) -> Emulator:
    """`Emulator(seed, dialects=[KubeflowDialect()])`: only the Kubernetes face, under
    `/k8s` (its pods run as local processes). Keyword arguments go to `Emulator`."""
    from drydock.emulator import Emulator

    from .dialect import KubeflowDialect

    return Emulator(seed, dialects=[dialect or KubeflowDialect()], **kwargs)


class _ClientDatetimeModule:
    """What `kubernetes.client.api_client` sees as `datetime` inside a warp. freezegun swaps
    `datetime.datetime` for its FakeDatetime, and the client's deserializer tests
    `klass == datetime.datetime` against the class it captured at import, so every timestamp
    field (a pod's creationTimestamp) would fail to parse. This answers with those classes."""

    def __init__(self, mapping: dict[str, Any]) -> None:
        import datetime as _dt

        self._mod = _dt
        self.datetime, self.date = mapping["datetime"], mapping["date"]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._mod, name)


@contextlib.contextmanager
def kubernetes_datetimes() -> Iterator[None]:
    """Let the kubernetes client parse timestamps while `drydock.testing.virtual_time` (built
    on freezegun) is on: `with virtual_time(emu), kubernetes_datetimes(): ...`."""
    from kubernetes.client import api_client

    saved = api_client.datetime
    api_client.datetime = _ClientDatetimeModule(api_client.ApiClient.NATIVE_TYPES_MAPPING)
    try:
        yield
    finally:
        api_client.datetime = saved
