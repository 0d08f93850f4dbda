"""An OpenAPI schema that tells the truth about the emulator: the request bodies routes read
by hand, the API-key and admin-token security schemes, and the error statuses the server really
answers (400 for a bad request, never FastAPI's 422), each with the owning dialect's error body.

Routes declare their body with `openapi_extra=json_body(Model)`; `truthful_openapi(app, ...)`
replaces `app.openapi`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

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
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    _require_discriminators(schema, defs)
    return {"requestBody": {"required": required,
                            "content": {"application/json": {"schema": schema}}},
            _DEFS: {model.__name__: schema, **defs}}


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
    props = {k: ({"type": "integer"} if isinstance(v, int) else
                 {"type": "array"} if isinstance(v, list) else
                 {"type": "object"} if isinstance(v, dict) else {"type": "string"})
             for k, v in error_example.items()}
    return {"type": "object", "properties": props, "required": list(props)}


def truthful_openapi(app: "FastAPI", error_examples: Callable[[str], dict]) -> None:
    """Replace `app.openapi` with a builder that fixes FastAPI's schema as described above.
    `error_examples(path)` is one error body in the format the path's owner answers with."""

    def build() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description,
                             routes=app.routes)
        components = schema.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        components["securitySchemes"] = {
            "ApiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key",
                       "description": "An account's API key"},
            "AdminToken": {"type": "apiKey", "in": "header", "name": "X-Drydock-Admin-Token",
                           "description": "drydock serve's admin token (test-only routes)"},
        }
        for path, ops in schema.get("paths", {}).items():
            admin = path.startswith("/_drydock")
            error = _error_schema(error_examples(path))
            for op in ops.values():
                schemas.update(op.pop(_DEFS, {}))
                responses = op.setdefault("responses", {})
                responses.pop("422", None)
                for status, text in ERROR_STATUSES.items():
                    responses.setdefault(status, {"description": text, "content": {
                        "application/json": {"schema": error}}})
                if "405" in responses:
                    responses["405"]["headers"] = {"Allow": {"schema": {"type": "string"},
                                                             "description": "allowed methods"}}
                if not admin:
                    op["security"] = [{"ApiKey": []}]
                elif path == "/_drydock/events":  # an account key reads its own events
                    op["security"] = [{}, {"AdminToken": []}, {"ApiKey": []}]
                else:  # open in process and with --no-admin-token; the token otherwise
                    op["security"] = [{}, {"AdminToken": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = build  # type: ignore[method-assign]
