"""An OpenAPI schema that tells the truth about the emulator: the request bodies routes read
by hand, the API-key and admin-token security schemes, and the error statuses the server really
answers (400 for a bad request, never FastAPI's 422), each with the owning dialect's error body.

Routes declare their body with `openapi_extra=json_body(Model)`; `truthful_openapi(app, ...)`
replaces `app.openapi`."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["json_body", "truthful_openapi", "ERROR_STATUSES"]

_DEFS = "x-drydock-defs"
ERROR_STATUSES = {
    "400": "Bad request: a malformed body, an unknown field, a value out of bounds",
    "401": "Missing or unknown credentials",
    "403": "The credentials may not use this resource",
    "404": "No such resource",
    "405": "Method not allowed (the Allow header lists those that are)",
    "409": "Conflict: the resource exists, or its state does not allow this",
    "413": "Request body too large",
    "415": "The body is not JSON",
    "429": "Rate limited (an injected fault)",
    "500": "Internal error",
    "503": "Unavailable (an injected fault, or a trainer that is not ready)",
}


def json_body(model: type[BaseModel], required: bool = True) -> dict[str, Any]:
    """`openapi_extra` for a route that reads `model` as its JSON body by hand."""
    # A copy of a cached schema: generating it was ~40% of building an emulator's app, and
    # every emulator builds its own routes.
    return copy.deepcopy(_json_body(model, required))


@functools.cache  # models are classes defined once per process
def _json_body(model: type[BaseModel], required: bool) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    _require_discriminators(schema, defs)
    return {
        "requestBody": {"required": required, "content": {"application/json": {"schema": schema}}},
        _DEFS: {model.__name__: schema, **defs},
    }


def _require_discriminators(node: Any, defs: dict) -> None:
    """A discriminated union needs its tag in every body, even where the tag has a default
    (`kind: preempt`): say so, or a schema-valid body without it is refused."""
    if isinstance(node, dict):
        disc = node.get("discriminator")
        if isinstance(disc, dict):
            for ref in disc.get("mapping", {}).values():
                target = defs.get(ref.rsplit("/", 1)[-1])
                if target is not None and disc["propertyName"] not in target.get("required", []):
                    target.setdefault("required", []).append(disc["propertyName"])
        for v in node.values():
            _require_discriminators(v, defs)
    elif isinstance(node, list):
        for v in node:
            _require_discriminators(v, defs)


def _error_schema(error_example: dict) -> dict:
    props = {
        k: (
            {"type": "integer"}
            if isinstance(v, int)
            else {"type": "array"}
            if isinstance(v, list)
            else {"type": "object"}
            if isinstance(v, dict)
            else {"type": "string"}
        )
        for k, v in error_example.items()
    }
    return {"type": "object", "properties": props, "required": list(props)}


def truthful_openapi(app: FastAPI, owner: Callable[[str], Any]) -> None:
    """Replace `app.openapi` with a builder that fixes FastAPI's schema as described above.
    `owner(path)` is the dialect that owns a path (None: drydock's own routes). A dialect
    states what the schema cannot learn from its routes: `openapi_security` (its security
    schemes, each required on its paths) and `openapi_error_example(path)` (one error body as
    that path answers, or None when the path answers in another format)."""

    def build() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        schemes = components.setdefault("securitySchemes", {})
        schemes["AdminToken"] = {
            "type": "apiKey",
            "in": "header",
            "name": "X-Drydock-Admin-Token",
            "description": "drydock serve's admin token (test-only routes)",
        }
        admin_error = _error_schema({"code": 3, "message": "", "details": []})
        for path, ops in schema.get("paths", {}).items():
            admin = path.startswith("/_drydock")
            dialect = None if admin else owner(path)
            security = dict(getattr(dialect, "openapi_security", None) or {})
            schemes.update(security)
            example_of = getattr(dialect, "openapi_error_example", None)
            example = example_of(path) if callable(example_of) else None
            error = admin_error if admin else (_error_schema(example) if example else None)
            for op in ops.values():
                schemas.update(op.pop(_DEFS, {}))
                responses = op.setdefault("responses", {})
                responses.pop("422", None)
                for status, text in ERROR_STATUSES.items():
                    entry: dict = {"description": text}
                    if error is not None:
                        entry["content"] = {"application/json": {"schema": error}}
                    responses.setdefault(status, entry)
                responses["405"]["headers"] = {
                    "Allow": {"schema": {"type": "string"}, "description": "allowed methods"}
                }
                if admin and path == "/_drydock/events":  # an account key reads its own
                    op["security"] = [
                        {},
                        {"AdminToken": []},
                        *({k: []} for k in schemes if k != "AdminToken"),
                    ]
                elif admin:  # open in process and with --no-admin-token; the token otherwise
                    op["security"] = [{}, {"AdminToken": []}]
                elif security:
                    op["security"] = [{name: []} for name in security]
        app.openapi_schema = schema
        return schema

    app.openapi = build  # type: ignore[method-assign]
