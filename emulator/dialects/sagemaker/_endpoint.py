"""The one AWS endpoint the SDK talks to (`AWS_ENDPOINT_URL`): SageMaker JSON 1.1 calls go to the
dialect, MLflow REST to a local MLflow tracking server, everything else (S3 path-style, STS, IAM,
CloudWatch Logs, ...) to moto in this process. It is its own listener: S3 path-style URLs
(`/bucket/key`) would collide with other dialects' paths on the main port.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote
from xml.sax.saxutils import escape

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from drydock.emulator.server import AsgiServerThread

from ._wire import AwsError, error_response, json_response

if TYPE_CHECKING:
    from ._service import SageMakerService

__all__ = ["AwsEndpointApp", "AwsEndpointServer"]

_TARGET_PREFIX = "SageMaker."


class AwsEndpointApp:
    """ASGI app: X-Amz-Target SageMaker.* -> the dialect; /api/2.0/mlflow -> MLflow; else moto."""

    def __init__(self, service: SageMakerService, mlflow_app: Any = None) -> None:
        from uvicorn.middleware.wsgi import WSGIMiddleware

        from ._moto import moto_wsgi_app

        self.service = service
        self.requests: list[str] = []  # "SageMaker.Op" / "METHOD /path", for tests and benches
        self._moto = WSGIMiddleware(moto_wsgi_app())
        self._mlflow = WSGIMiddleware(mlflow_app) if mlflow_app is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        target = headers.get("x-amz-target", "")
        path = scope["path"]
        if target.startswith(_TARGET_PREFIX):
            request = Request(scope, receive)
            body = await request.body()
            op = target[len(_TARGET_PREFIX) :]
            self.requests.append(target)
            response = await run_in_threadpool(self._sagemaker, op, body)
            return await response(scope, receive, send)
        self.requests.append(f"{scope['method']} {path}")
        if (
            scope["method"] == "POST"
            and path == "/"
            and "/iam/" in headers.get("authorization", "")
        ):
            body = await Request(scope, receive).body()
            form = parse_qs(body.decode(errors="replace"))
            if form.get("Action") == ["SimulatePrincipalPolicy"]:
                self.requests[-1] = "IAM.SimulatePrincipalPolicy"
                return await _simulate_principal_policy(form)(scope, receive, send)
            receive = _replay(body)
        m = _LAMBDA_INVOKE.match(path)
        if m and scope["method"] == "POST":
            body = await Request(scope, receive).body()
            self.requests[-1] = "Lambda.Invoke"
            response = await run_in_threadpool(self._invoke, unquote(m.group(1)), body)
            return await response(scope, receive, send)
        if self._mlflow is not None and path.startswith(("/api/2.0/mlflow", "/ajax-api/")):
            return await self._mlflow(scope, receive, send)
        return await self._moto(scope, receive, send)

    def _invoke(self, function: str, raw: bytes) -> Response:
        """Lambda Invoke of a local reward function (the RLVR trainer checks its reward Lambda
        on dataset samples before submitting). Answers in the OSS envelope."""
        name = function.rsplit(":", 1)[-1] if function.startswith("arn:") else function
        fn = self.service.rewards.get(name)
        if fn is None:
            return Response(
                json.dumps({"Type": "User", "message": f"Function not found: {function}"}),
                status_code=404,
                media_type="application/json",
                headers={"x-amzn-ErrorType": "ResourceNotFoundException"},
            )
        samples = json.loads(raw or b"[]")
        samples = samples if isinstance(samples, list) else [samples]
        out = [
            {
                "id": s.get("id", str(i)) if isinstance(s, dict) else str(i),
                "aggregate_reward_score": float(fn(*_sample_texts(s))),
            }
            for i, s in enumerate(samples)
        ]
        body = {"statusCode": 200, "headers": {}, "body": json.dumps(out)}
        return Response(
            json.dumps(body),
            media_type="application/json",
            headers={"X-Amz-Executed-Version": "$LATEST"},
        )

    def _sagemaker(self, op: str, raw: bytes) -> Response:
        cp = self.service.cp
        fault = cp.http_fault("POST", f"sagemaker.{op}", "/") if cp.faults else None
        if fault is not None and fault.status is not None:
            if fault.status == 429 or fault.status < 500:
                # SageMaker throttles with 400 ThrottlingException; botocore backs off and retries.
                code = "ThrottlingException" if fault.status == 429 else "ValidationException"
                return error_response(
                    code,
                    "Rate exceeded"
                    if fault.status == 429
                    else f"injected fault: HTTP {fault.status}",
                    400,
                )
            return error_response(
                "ServiceUnavailable", f"injected fault: HTTP {fault.status}", fault.status
            )
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return error_response("SerializationException", "The request body is not JSON")
        try:
            return json_response(self.service.call(op, body))
        except AwsError as e:
            return error_response(e.code, e.message, e.status)


_LAMBDA_INVOKE = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")


def _sample_texts(sample: Any) -> tuple[str, str, dict]:
    """(prompt, completion, row) of a reward sample: chat messages or prompt/answer fields."""
    if not isinstance(sample, dict):
        return "", str(sample), {}
    msgs = sample.get("messages") or []
    prompt = " ".join(str(m.get("content", "")) for m in msgs if m.get("role") != "assistant")
    answer = next(
        (str(m.get("content", "")) for m in reversed(msgs) if m.get("role") == "assistant"), ""
    )
    return (
        str(sample.get("prompt", prompt)),
        str(sample.get("completion", sample.get("answer", answer))),
        sample,
    )


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive():
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _simulate_principal_policy(form: dict[str, list[str]]) -> Response:
    """IAM SimulatePrincipalPolicy (moto answers 500 for it): every action allowed, since
    drydock has no IAM policies to evaluate. The SDK's role check reads EvalDecision."""
    actions = [
        v[0]
        for k, v in sorted(form.items(), key=lambda kv: _member_index(kv[0]))
        if k.startswith("ActionNames.member.")
    ]
    resources = [v[0] for k, v in form.items() if k.startswith("ResourceArns.member.")] or ["*"]
    members = "".join(
        f"<member><EvalActionName>{escape(a)}</EvalActionName>"
        f"<EvalResourceName>{escape(resources[0])}</EvalResourceName>"
        "<EvalDecision>allowed</EvalDecision><MatchedStatements/><MissingContextValues/>"
        "</member>"
        for a in actions
    )
    xml = (
        '<SimulatePrincipalPolicyResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
        "<SimulatePrincipalPolicyResult><IsTruncated>false</IsTruncated>"
        f"<EvaluationResults>{members}</EvaluationResults></SimulatePrincipalPolicyResult>"
        "<ResponseMetadata><RequestId>drydock</RequestId></ResponseMetadata>"
        "</SimulatePrincipalPolicyResponse>"
    )
    return Response(xml, media_type="text/xml")


def _member_index(key: str) -> int:
    tail = key.rsplit(".", 1)[-1]
    return int(tail) if tail.isdigit() else 0


class AwsEndpointServer(AsgiServerThread):
    """The AWS endpoint's own listener: uvicorn on loopback in a daemon thread."""

    def __init__(self, app: AwsEndpointApp, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(app, host, port, name="drydock AWS endpoint")
