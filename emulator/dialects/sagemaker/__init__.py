"""The SageMaker dialect: the real sagemaker v3 SDK's fine-tuning trainers against drydock.

Needs the `.venv-sagemaker` environment (moto, mlflow); import-light otherwise.
"""

from importlib.util import find_spec as _find_spec

for _dep in ("moto", "mlflow", "boto3"):  # left out of default_dialects() where missing
    if _find_spec(_dep) is None:
        raise ModuleNotFoundError(f"the SageMaker dialect needs {_dep}", name=_dep)

from ._hub import PUBLIC_HUB, HubModel, public_models  # noqa: E402 (after the dependency check)
from ._runtime import RunTimings, SageMakerRuntime  # noqa: E402
from ._service import PROTECTED_KEYS, SageMakerService  # noqa: E402
from ._stack import DEFAULT_BUCKET, DEFAULT_ROLE, AwsStack, sdk_environment  # noqa: E402
from .dialect import SageMakerDialect  # noqa: E402

__all__ = [
    "SageMakerDialect",
    "SageMakerService",
    "SageMakerRuntime",
    "RunTimings",
    "AwsStack",
    "sdk_environment",
    "HubModel",
    "public_models",
    "PUBLIC_HUB",
    "PROTECTED_KEYS",
    "DEFAULT_BUCKET",
    "DEFAULT_ROLE",
    "DIALECT",
]

DIALECT = SageMakerDialect
