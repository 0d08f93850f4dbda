"""drydock's Kubeflow Trainer dialect: the Kubernetes API slice that `kubeflow.trainer`'s
`TrainerClient` (kubeflow SDK 0.5.0) and kubectl use, served under `/k8s`.

    from drydock.emulator.dialects.kubeflow import KubeflowDialect, kubeflow_emulator, trainer_client
"""

from .client import kube_configuration, kubeflow_emulator, kubernetes_datetimes, trainer_client
from .dialect import KubeflowDialect

DIALECT = KubeflowDialect  # found by drydock.emulator.default_dialects()

__all__ = [
    "DIALECT",
    "KubeflowDialect",
    "kubeflow_emulator",
    "kube_configuration",
    "kubernetes_datetimes",
    "trainer_client",
]
