"""HTTP routes of the Kubernetes face: discovery, runtimes, TrainJobs, pods, logs, events.

Handlers are plain `def`s (run in the server's thread pool): they take the control plane's
lock, which a virtual-clock advance may hold while a pod's processes finish."""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from drydock.emulator.errors import ServiceError

from ._k8s import (
    API_VERSION,
    GROUP,
    VERSION,
    K8sError,
    parse_selector,
    selector_matches,
    status_response,
)
from ._table import POD_COLUMNS, TRAINJOB_COLUMNS, pod_row, table, trainjob_row, wants_table
from ._trainjob import pod_object
from .runtimes import builtin_runtimes, runtime_object

if TYPE_CHECKING:
    from ._state import Pod
    from .dialect import KubeflowDialect

__all__ = ["build_router"]

_TJ = f"/apis/{GROUP}/{VERSION}"
_CONFIGMAP = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "kubeflow-trainer-public", "namespace": "kubeflow-system"},
    "data": {"kubeflow_trainer_version": "v2.1.0"},
}


def _res(
    name: str,
    kind: str,
    namespaced: bool,
    verbs: list[str],
    short: list[str] | None = None,
    singular: str = "",
) -> dict[str, Any]:
    r = {
        "name": name,
        "singularName": singular,
        "namespaced": namespaced,
        "kind": kind,
        "verbs": verbs,
    }
    if short:
        r["shortNames"] = short
    return r


_CORE_RESOURCES = {
    "kind": "APIResourceList",
    "groupVersion": "v1",
    "resources": [
        _res("pods", "Pod", True, ["get", "list", "delete"], ["po"], "pod"),
        _res("pods/log", "Pod", True, ["get"]),
        _res("events", "Event", True, ["get", "list"], ["ev"], "event"),
        _res("configmaps", "ConfigMap", True, ["get"], ["cm"], "configmap"),
        _res("namespaces", "Namespace", False, ["get", "list"], ["ns"], "namespace"),
    ],
}
_TRAINER_RESOURCES = {
    "kind": "APIResourceList",
    "apiVersion": "v1",
    "groupVersion": API_VERSION,
    "resources": [
        _res("trainjobs", "TrainJob", True, ["create", "delete", "get", "list"], None, "trainjob"),
        _res("trainingruntimes", "TrainingRuntime", True, ["get", "list"], None, "trainingruntime"),
        _res(
            "clustertrainingruntimes",
            "ClusterTrainingRuntime",
            False,
            ["get", "list"],
            None,
            "clustertrainingruntime",
        ),
    ],
}
_GROUP = {
    "name": GROUP,
    "versions": [{"groupVersion": API_VERSION, "version": VERSION}],
    "preferredVersion": {"groupVersion": API_VERSION, "version": VERSION},
}


async def _stash_body(request: Request) -> None:
    """Read a write's body in the async part of the request, for the sync handlers."""
    if request.method in ("POST", "PUT", "PATCH"):
        request.state.k8s_body = await request.body()


def build_router(d: KubeflowDialect) -> APIRouter:
    router = APIRouter(dependencies=[Depends(_stash_body)])

    def k8s(
        name: str, path: str, methods: tuple[str, ...] = ("GET",), auth: bool = True
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register a handler; K8s and core errors become Status objects; with `auth`, the
        handler gets the account of the bearer token first."""

        def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(fn)
            def handler(request: Request, **kw: Any) -> Any:
                try:
                    if auth:
                        kw["account"] = _account(d, request)
                    return fn(request, **kw)
                except K8sError as exc:
                    return status_response(exc.code, exc.message, exc.reason, exc.details)
                except ServiceError as exc:
                    err = d.core_error(exc)
                    return status_response(err.code, err.message, err.reason)

            # FastAPI reads path params from the signature: keep them, drop `account`.
            sig = inspect.signature(fn)
            params = [p for n, p in sig.parameters.items() if n != "account"]
            handler.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
            router.add_api_route(path, handler, methods=list(methods), name=name)
            return fn

        return deco

    # ------------------------------------------------------------ discovery (kubectl)
    @k8s("version", "/version", auth=False)
    def version(request: Request):
        return {
            "major": "1",
            "minor": "32",
            "gitVersion": "v1.32.0-drydock",
            "platform": "linux/amd64",
        }

    @k8s("discovery.core", "/api")
    def api(request: Request, account: str):
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}
            ],
        }

    @k8s("discovery.core.v1", "/api/v1")
    def api_v1(request: Request, account: str):
        return _CORE_RESOURCES

    @k8s("discovery.groups", "/apis")
    def apis(request: Request, account: str):
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_GROUP]}

    @k8s("discovery.group", f"/apis/{GROUP}")
    def apis_group(request: Request, account: str):
        return {"kind": "APIGroup", "apiVersion": "v1", **_GROUP}

    @k8s("discovery.trainer", _TJ)
    def apis_trainer(request: Request, account: str):
        return _TRAINER_RESOURCES

    @k8s("namespaces.get", "/api/v1/namespaces/{namespace}")
    def namespace_get(request: Request, account: str, namespace: str):
        return {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": namespace},
            "status": {"phase": "Active"},
        }

    @k8s("configmaps.get", "/api/v1/namespaces/{namespace}/configmaps/{name}")
    def configmap(request: Request, account: str, namespace: str, name: str):
        if (namespace, name) != ("kubeflow-system", "kubeflow-trainer-public"):
            raise K8sError.not_found("configmaps", name, group="")
        return _CONFIGMAP

    # ------------------------------------------------------------ runtimes
    @k8s("clustertrainingruntimes.list", f"{_TJ}/clustertrainingruntimes")
    def cluster_runtimes(request: Request, account: str):
        return {
            "apiVersion": API_VERSION,
            "kind": "ClusterTrainingRuntimeList",
            "metadata": {"resourceVersion": "1"},
            "items": builtin_runtimes(),
        }

    @k8s("clustertrainingruntimes.get", f"{_TJ}/clustertrainingruntimes/{{name}}")
    def cluster_runtime(request: Request, account: str, name: str):
        rt = runtime_object(name)
        if rt is None:
            raise K8sError.not_found("clustertrainingruntimes", name)
        return rt

    @k8s("trainingruntimes.list", f"{_TJ}/namespaces/{{namespace}}/trainingruntimes")
    def runtimes(request: Request, account: str, namespace: str):
        return {
            "apiVersion": API_VERSION,
            "kind": "TrainingRuntimeList",
            "metadata": {"resourceVersion": "1"},
            "items": [],
        }

    @k8s("trainingruntimes.get", f"{_TJ}/namespaces/{{namespace}}/trainingruntimes/{{name}}")
    def runtime(request: Request, account: str, namespace: str, name: str):
        raise K8sError.not_found("trainingruntimes", name)

    # ------------------------------------------------------------ TrainJobs
    @k8s("trainjobs.create", f"{_TJ}/namespaces/{{namespace}}/trainjobs", ("POST",))
    def create(request: Request, account: str, namespace: str):
        try:
            body = json.loads(_body(request) or b"null")
        except ValueError as exc:
            raise K8sError(400, f"the body of the request could not be decoded: {exc}") from None
        rec, job = d.create(account, namespace, body)
        with d.cp.lock:
            return JSONResponse(d.render(rec, job), status_code=201)

    @k8s("trainjobs.list", f"{_TJ}/namespaces/{{namespace}}/trainjobs")
    def list_jobs(request: Request, account: str, namespace: str):
        selector = parse_selector(request.query_params.get("labelSelector"))
        names = _field_names(request)
        with d.cp.lock:
            d.cp.tick()
            jobs = [
                (rec, job)
                for rec, job in d.list(account, namespace)
                if selector_matches(selector, rec.manifest["metadata"].get("labels") or {})
                and (names is None or rec.name in names)
            ]
            items = [d.render(rec, job) for rec, job in jobs]
            if wants_table(request) and not _is_watch(request):
                return table(
                    TRAINJOB_COLUMNS,
                    [
                        (
                            trainjob_row(obj, d.shown_state(rec, job), d.cp.now(), job.create_time),
                            obj,
                        )
                        for obj, (rec, job) in zip(items, jobs, strict=True)
                    ],
                )
        if _is_watch(request):
            return _watch(items)
        return {
            "apiVersion": API_VERSION,
            "kind": "TrainJobList",
            "metadata": {"resourceVersion": "1"},
            "items": items,
        }

    @k8s("trainjobs.get", f"{_TJ}/namespaces/{{namespace}}/trainjobs/{{name}}")
    def get_job(request: Request, account: str, namespace: str, name: str):
        with d.cp.lock:
            d.cp.tick()
            rec, job = d.lookup(account, namespace, name)
            obj = d.render(rec, job)
            if wants_table(request):
                return table(
                    TRAINJOB_COLUMNS,
                    [
                        (
                            trainjob_row(obj, d.shown_state(rec, job), d.cp.now(), job.create_time),
                            obj,
                        )
                    ],
                )
            return obj

    @k8s("trainjobs.delete", f"{_TJ}/namespaces/{{namespace}}/trainjobs/{{name}}", ("DELETE",))
    def delete_job(request: Request, account: str, namespace: str, name: str):
        rec = d.delete(account, namespace, name)
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {
                "name": name,
                "group": GROUP,
                "kind": "trainjobs",
                "uid": rec.manifest["metadata"]["uid"],
            },
        }

    # ------------------------------------------------------------ pods, logs, events
    def _pods(account: str, namespace: str) -> list[Pod]:
        tenant = d.tenant(account, namespace)
        return [
            p
            for (t, _), rec in d.state.jobs.items()
            if t == tenant
            and (job := d.cp.jobs.get((t, rec.name))) is not None
            and job.state.value not in ("DELETING", "DELETED")  # type: ignore[union-attr]
            for p in rec.pods
        ]

    @k8s("pods.list", "/api/v1/namespaces/{namespace}/pods")
    def pods(request: Request, account: str, namespace: str):
        selector = parse_selector(request.query_params.get("labelSelector"))
        names = _field_names(request)
        with d.cp.lock:
            d.cp.tick()
            found = [
                p
                for p in _pods(account, namespace)
                if selector_matches(selector, p.labels) and (names is None or p.name in names)
            ]
            items = [pod_object(p) for p in found]
            if wants_table(request) and not _is_watch(request):
                return table(
                    POD_COLUMNS,
                    [
                        (pod_row(obj, d.cp.now(), p.created), obj)
                        for obj, p in zip(items, found, strict=True)
                    ],
                )
        if _is_watch(request):
            return _watch(items)
        return {
            "apiVersion": "v1",
            "kind": "PodList",
            "metadata": {"resourceVersion": "1"},
            "items": items,
        }

    def _pod(account: str, namespace: str, name: str) -> Pod:
        for p in _pods(account, namespace):
            if p.name == name:
                return p
        raise K8sError.not_found("pods", name, group="")

    @k8s("pods.get", "/api/v1/namespaces/{namespace}/pods/{name}")
    def pod(request: Request, account: str, namespace: str, name: str):
        with d.cp.lock:
            d.cp.tick()
            p = _pod(account, namespace, name)
            obj = pod_object(p)
            if wants_table(request):
                return table(POD_COLUMNS, [(pod_row(obj, d.cp.now(), p.created), obj)])
            return obj

    @k8s("pods.log", "/api/v1/namespaces/{namespace}/pods/{name}/log")
    def pod_log(request: Request, account: str, namespace: str, name: str):
        with d.cp.lock:
            p = _pod(account, namespace, name)
        container = request.query_params.get("container")
        if container not in (None, "", "node"):
            raise K8sError(400, f"container {container} is not valid for pod {name}")
        if p.phase == "Pending":
            raise K8sError(
                400, f'container "node" in pod "{name}" is waiting to start: ContainerCreating'
            )
        if request.query_params.get("follow", "").lower() == "true":
            return StreamingResponse(p.log.follow(), media_type="text/plain")
        data = p.log.read()
        tail = request.query_params.get("tailLines")
        if tail and tail.isdigit():
            lines = data.splitlines(keepends=True)
            data = b"".join(lines[-int(tail) :]) if int(tail) else b""
        return Response(data, media_type="text/plain")

    @k8s("events.list", "/api/v1/namespaces/{namespace}/events")
    def events(request: Request, account: str, namespace: str):
        fields = _fields(request)
        with d.cp.lock:
            d.cp.tick()
            items = [
                e
                for e in d.state.events.get((d.tenant(account, namespace), namespace), [])
                if all(_field_value(e, k) == v for k, v in fields.items())
            ]
        return {
            "apiVersion": "v1",
            "kind": "EventList",
            "metadata": {"resourceVersion": "1"},
            "items": items,
        }

    return router


# ------------------------------------------------------------------ helpers
def _account(d: KubeflowDialect, request: Request) -> str:
    auth = request.headers.get("authorization", "")
    token = auth[7:].strip() if auth[:7].lower() == "bearer " else auth.strip()
    if not token and d.anonymous_account and d.anonymous_account in d.cp.accounts:
        return d.anonymous_account
    try:
        return d.cp.authenticate(token or None).id
    except ServiceError:
        raise K8sError(401, "Unauthorized") from None


def _body(request: Request) -> bytes:
    return request.state.k8s_body if hasattr(request.state, "k8s_body") else b""


def _fields(request: Request) -> dict[str, str]:
    out = {}
    for part in (request.query_params.get("fieldSelector") or "").split(","):
        if "=" in part:
            k, v = part.split("==", 1) if "==" in part else part.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def _field_names(request: Request) -> set[str] | None:
    name = _fields(request).get("metadata.name")
    return None if name is None else {name}


def _field_value(obj: dict[str, Any], path: str) -> str | None:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return None if cur is None else str(cur)


def _is_watch(request: Request) -> bool:
    return request.query_params.get("watch", "").lower() in ("true", "1")


def _watch(items: list[dict[str, Any]]) -> StreamingResponse:
    """A watch that reports the current objects and ends (clients re-list or stop)."""

    def gen():
        for obj in items:
            yield (json.dumps({"type": "ADDED", "object": obj}) + "\n").encode()

    return StreamingResponse(gen(), media_type="application/json")
