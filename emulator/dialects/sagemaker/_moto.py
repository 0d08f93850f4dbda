"""The AWS services that are not the point, served by moto in this process: S3 objects and
CloudWatch log streams written straight into moto's backends (what the SDK then reads over HTTP)."""

from __future__ import annotations

from typing import Any

__all__ = ["MotoStore", "moto_wsgi_app", "split_s3"]


def split_s3(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def moto_wsgi_app() -> Any:
    """moto's server app (the same one `moto_server` runs), dispatching by the SigV4 scope."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    return DomainDispatcherApplication(create_backend_app)


class MotoStore:
    def __init__(self, account: str, region: str) -> None:
        self.account, self.region = account, region

    @property
    def _s3(self) -> Any:  # moto is imported on first use: constructing a dialect stays cheap
        from moto.s3.models import s3_backends

        return s3_backends[self.account]["aws"]

    @property
    def _logs(self) -> Any:
        from moto.logs.models import logs_backends

        return logs_backends[self.account][self.region]

    # ---------------------------------------------------------------- S3
    def ensure_bucket(self, bucket: str) -> None:
        from moto.s3.exceptions import MissingBucket

        try:
            self._s3.get_bucket(bucket)
        except MissingBucket:
            self._s3.create_bucket(bucket, self.region)

    def put(self, uri: str, body: bytes) -> None:
        bucket, key = split_s3(uri)
        self.ensure_bucket(bucket)
        self._s3.put_object(bucket, key, body)

    def get(self, uri: str) -> bytes | None:
        """An object's bytes, or None when the bucket or key is missing."""
        bucket, key = split_s3(uri)
        try:
            obj = self._s3.get_object(bucket, key)
        except Exception:
            return None
        return None if obj is None else bytes(obj.value)

    def list_keys(self, uri: str) -> list[str]:
        bucket, prefix = split_s3(uri)
        try:
            b = self._s3.get_bucket(bucket)
        except Exception:
            return []
        return sorted(k for k in b.keys.keys() if k.startswith(prefix))

    def read_prefix(self, uri: str) -> bytes | None:
        """A dataset channel: the object itself, or every object under the prefix, joined."""
        if (data := self.get(uri)) is not None:
            return data
        bucket, _ = split_s3(uri)
        parts = [self.get(f"s3://{bucket}/{k}") or b"" for k in self.list_keys(uri)]
        return b"\n".join(p.rstrip(b"\n") for p in parts if p) or None

    # ---------------------------------------------------------------- IAM
    def ensure_role(self, name: str) -> None:
        """A role SageMaker may assume (the SDK's role check reads its trust policy)."""
        import json

        from moto.iam.models import iam_backends

        iam = iam_backends[self.account]["aws"]
        try:
            iam.get_role(name)
        except Exception:
            trust = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "sagemaker.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
            iam.create_role(name, json.dumps(trust), "/", None, "drydock SageMaker role", [], None)

    # ---------------------------------------------------------------- CloudWatch Logs
    def new_stream(self, group: str, stream: str) -> None:
        """An empty stream (moto outlives Emulator.reset: a same-named job must not inherit)."""
        if group not in self._logs.groups:
            self._logs.create_log_group(group, {})
        if stream in self._logs.groups[group].streams:
            self._logs.delete_log_stream(group, stream)
        self._logs.create_log_stream(group, stream)

    def log(self, group: str, stream: str, timestamp_ms: int, message: str) -> None:
        if group not in self._logs.groups:
            self._logs.create_log_group(group, {})
        if stream not in self._logs.groups[group].streams:
            self._logs.create_log_stream(group, stream)
        # The stream's own put (the backend's rejects events more than 14 days from the wall
        # clock, and job time is the emulator's clock, virtual in tests).
        self._logs.groups[group].streams[stream].put_log_events(
            [{"timestamp": timestamp_ms, "message": message}]
        )
