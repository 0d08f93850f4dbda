"""The SageMaker dialect: the real sagemaker v3 SDK's fine-tuning trainers against drydock.

Needs the `.venv-sagemaker` environment (moto, mlflow); import-light otherwise.
"""

from ._hub import PUBLIC_HUB, HubModel, public_models
from ._runtime import RunTimings, SageMakerRuntime
from ._service import PROTECTED_KEYS, SageMakerService
from ._stack import DEFAULT_BUCKET, DEFAULT_ROLE, AwsStack, sdk_environment
from .dialect import SageMakerDialect

__all__ = ["SageMakerDialect", "SageMakerService", "SageMakerRuntime", "RunTimings", "AwsStack",
           "sdk_environment", "HubModel", "public_models", "PUBLIC_HUB", "PROTECTED_KEYS",
           "DEFAULT_BUCKET", "DEFAULT_ROLE"]
