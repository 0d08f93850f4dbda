"""`AwsStack`: an emulator with the SageMaker dialect, its AWS endpoint (SageMaker + moto + MLflow)
and the environment that keeps the real SDK offline. One object for tests, scenarios and CLI."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ._endpoint import AwsEndpointApp, AwsEndpointServer
from ._mlflow import LocalMlflow
from .dialect import SageMakerDialect

__all__ = ["AwsStack", "sdk_environment", "DEFAULT_BUCKET", "DEFAULT_ROLE"]

DEFAULT_BUCKET = "drydock-sagemaker"
DEFAULT_ROLE = "arn:aws:iam::123456789012:role/drydock-sagemaker"


def sdk_environment(
    endpoint: str, config_dir: str | Path, region: str = "us-west-2", bucket: str = DEFAULT_BUCKET
) -> dict[str, str]:
    """Every variable the sagemaker SDK needs to stay on this machine (docs/sagemaker.md says
    why each is there). Writes the SDK config file into `config_dir`."""
    config_dir = Path(config_dir)
    config_dir.mkdir(parents=True, exist_ok=True)
    user = config_dir / "sagemaker-config.yaml"
    user.write_text(
        "SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n"
        "      TelemetryOptOut: true\n"
        f"      Session:\n        DefaultS3Bucket: {bucket}\n"
        f"  TrainingJob:\n    RoleArn: {DEFAULT_ROLE}\n"
    )
    admin = config_dir / "sagemaker-admin-config.yaml"
    admin.write_text("SchemaVersion: '1.0'\n")
    empty = config_dir / "aws-empty-config"
    empty.write_text("")
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ACCESS_KEY_ID": "drydock",
        "AWS_SECRET_ACCESS_KEY": "drydock",
        "AWS_CONFIG_FILE": str(empty),
        "AWS_SHARED_CREDENTIALS_FILE": str(empty),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "false",
        "SAGEMAKER_USER_CONFIG_OVERRIDE": str(user),
        "SAGEMAKER_ADMIN_CONFIG_OVERRIDE": str(admin),
        "SAGEMAKER_MLFLOW_CUSTOM_ENDPOINT": endpoint,
        "MLFLOW_TRACKING_URI": endpoint,
    }


class AwsStack:
    """>>> with AwsStack(seed=0) as stack:
    ...     os.environ.update(stack.environment())
    ...     SFTTrainer(model=..., ...).train()
    """

    def __init__(
        self,
        seed: int = 0,
        *,
        faults: Any = None,
        clock: Any = None,
        timings: Any = None,
        region: str = "us-west-2",
        mlflow: bool = True,
        dialect: SageMakerDialect | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        emulator: Any = None,
    ) -> None:
        """A new emulator with only this dialect, or (`emulator=`) the endpoint for an existing
        emulator that mounts a SageMaker dialect (a scenario's); that one is not closed here."""
        from drydock.emulator import Emulator

        self._tmp = tempfile.TemporaryDirectory(prefix="drydock-aws-")
        self._owns_emulator = emulator is None
        if emulator is not None:
            self.dialect = emulator.dialect("sagemaker")
            self.emulator = emulator
        else:
            self.dialect = dialect or SageMakerDialect(region)
            self.emulator = Emulator(
                seed,
                clock=clock,
                timings=timings,
                dialects=[self.dialect],
                data_dir=Path(self._tmp.name) / "emulator",
            )
        region = self.dialect.service.region
        if faults is not None:
            self.emulator.inject(faults)
        self.mlflow = LocalMlflow.shared() if mlflow else None
        self.app = AwsEndpointApp(
            self.dialect.service, self.mlflow.wsgi_app() if self.mlflow else None
        )
        if self.mlflow:
            self.dialect.service.metrics_sink = self.mlflow.log_metrics
        self.server = AwsEndpointServer(self.app, host, port)
        self.region = region

    @property
    def service(self):
        return self.dialect.service

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> AwsStack:
        self.server.start()
        self.service.mlflow_endpoint = self.url
        self.service.store.ensure_bucket(DEFAULT_BUCKET)
        self.service.store.ensure_role(DEFAULT_ROLE.rsplit("/", 1)[1])
        return self

    def environment(self, config_dir: str | Path | None = None) -> dict[str, str]:
        return sdk_environment(self.url, config_dir or Path(self._tmp.name) / "sdk", self.region)

    @contextmanager
    def sdk_env(self) -> Iterator[dict[str, str]]:
        """Set the SDK environment in os.environ for the duration (restored after)."""
        env = self.environment()
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            yield env
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def close(self) -> None:
        self.server.stop()
        if self._owns_emulator:
            self.emulator.close()
        self._tmp.cleanup()

    def __enter__(self) -> AwsStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
