"""Pointing the real clients at the dialect: the kubernetes `Configuration` for a drydock URL,
a ready `TrainerClient`, an emulator serving only `/k8s`, and client-side virtual time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from drydock.emulator.emulator import Emulator

    from .dialect import KubeflowDialect

__all__ = ["kube_configuration", "trainer_client", "kubeflow_emulator", "virtual_time"]


def kube_configuration(url: str, api_key: str) -> Any:
    """A `kubernetes.client.Configuration` for `drydock serve` at `url` (or a ServerThread's
    `.url`): host `<url>/k8s`, the API key as the bearer token."""
    from kubernetes.client import Configuration

    cfg = Configuration(host=url.rstrip("/") + "/k8s")
    cfg.api_key = {"authorization": api_key}
    cfg.api_key_prefix = {"authorization": "Bearer"}
    return cfg


def trainer_client(url: str, api_key: str, namespace: str = "default") -> Any:
    """The real `kubeflow.trainer.TrainerClient`, on the Kubernetes backend, against drydock."""
    from kubeflow.common.types import KubernetesBackendConfig
    from kubeflow.trainer import TrainerClient

    return TrainerClient(KubernetesBackendConfig(
        namespace=namespace, client_configuration=kube_configuration(url, api_key)))


def kubeflow_emulator(seed: int = 0, dialect: "KubeflowDialect | None" = None,
                      **kwargs: Any) -> "Emulator":
    """`Emulator(seed, dialects=[KubeflowDialect()])`: only the Kubernetes face, under
    `/k8s` (its pods run as local processes). Keyword arguments go to `Emulator`."""
    from drydock.emulator import Emulator

    from .dialect import KubeflowDialect

    return Emulator(seed, dialects=[dialect or KubeflowDialect()], **kwargs)


class _RealDatetimeModule:
    """What `kubernetes.client.api_client` sees as `datetime` inside a warp: the real classes.
    freezegun swaps `datetime.datetime` for its FakeDatetime, and the client's deserializer
    tests `klass == datetime.datetime` (a real class it captured at import), so every
    timestamp field (a pod's creationTimestamp) would fail to parse."""

    def __init__(self, real: Any) -> None:
        import datetime as _dt

        self.datetime, self.date = real.datetime, real.date
        self._mod = _dt

    def __getattr__(self, name: str) -> Any:
        return getattr(self._mod, name)


def virtual_time(target: Any, admin_token: str | None = None, **kwargs: Any) -> Any:
    """`drydock.testing.virtual_time` for code that drives the kubernetes client: the SDK's
    `wait_for_job_status` polls sleep on the emulator's clock, and the client still parses
    timestamps. `target`: an Emulator, its ServerThread, or the URL of `drydock serve`
    (then `remote_virtual_time`)."""
    import contextlib
    import datetime as real_datetime_module

    from kubernetes.client import api_client

    from drydock.testing.virtual_time import remote_virtual_time
    from drydock.testing.virtual_time import virtual_time as _virtual_time

    real = _RealDatetimeModule(type("_Real", (), {
        "datetime": real_datetime_module.datetime, "date": real_datetime_module.date}))

    @contextlib.contextmanager
    def warp():
        saved = api_client.datetime
        api_client.datetime = real  # type: ignore[assignment]
        try:
            with (remote_virtual_time(target, admin_token, **kwargs) if isinstance(target, str)
                  else _virtual_time(target, **kwargs)) as vt:
                yield vt
        finally:
            api_client.datetime = saved
    return warp()
