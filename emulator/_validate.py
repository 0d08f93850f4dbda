"""One validator for fault plans, whatever the entry point: Python (`Emulator.inject`), the
`POST /_drydock/faults` route and scenario YAML all report problems as `path: message` with
"did you mean" suggestions, and refuse faults that could never fire (an unknown route name, an
`at_step` trigger with no trainer behind the jobs)."""

from __future__ import annotations

import typing
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from ._suggest import did_you_mean, format_path
from .errors import InvalidArgument

__all__ = [
    "route_names",
    "route_known",
    "error_message",
    "validation_problems",
    "plan_problems",
    "check_plan",
    "check_for",
    "reject_unknown_keys",
    "FaultPlanProblems",
    "inline_schema",
]


class FaultPlanProblems(InvalidArgument):
    """A fault plan that cannot be used; `problems` holds each `path: message`."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid fault plan: " + "; ".join(self.problems))


def route_names(app: Any) -> frozenset[str]:
    """Every named route of a (FastAPI) app, descending into included routers: what an
    `HttpFault.route` name can match (`<dialect>.jobs.get`, or its short form `jobs.get`)."""
    from ._http import iter_routes

    return frozenset(n for r in iter_routes(app.routes) if (n := getattr(r, "name", "") or ""))


def route_known(route: str, routes: Iterable[str]) -> bool:
    """A path glob, a full route name, or a short name that ends one (`jobs.get`)."""
    from .emulator import route_matches

    if "/" in route or "*" in route:
        return True
    return any(route_matches(route, n) for n in routes)


# ------------------------------------------------------------------ pydantic errors
def _tagged(annotation: Any) -> dict[str, type[BaseModel]] | type[BaseModel] | None:
    """The model an annotation holds (through list/Optional/Annotated), or {tag: model} for a
    union of models told apart by `kind`."""
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if origin is None:
        return None
    models = []
    for arg in typing.get_args(annotation):
        got = _tagged(arg)
        if isinstance(got, dict):
            return got
        if got is not None:
            models.append(got)
    kinds = {}
    for m in models:
        kind = m.model_fields.get("kind")
        if kind is not None and typing.get_args(kind.annotation):
            kinds[typing.get_args(kind.annotation)[0]] = m
    if len(models) > 1 and len(kinds) == len(models):
        return kinds
    return models[0] if models else None


def _model_at(root: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    cur: Any = root
    for part in loc:
        if isinstance(part, int):
            continue
        if isinstance(cur, dict):  # a tagged union: the tag names the member
            cur = cur.get(part)
            continue
        if not (isinstance(cur, type) and issubclass(cur, BaseModel)):
            return None
        field = cur.model_fields.get(part)
        if field is None:
            return None
        cur = _tagged(field.annotation)
    return cur if isinstance(cur, type) and issubclass(cur, BaseModel) else None


def _kinds_at(root: type[BaseModel], loc: tuple) -> list[str]:
    cur: Any = root
    for part in loc:
        if isinstance(part, int) or isinstance(cur, dict):
            continue
        if not (isinstance(cur, type) and issubclass(cur, BaseModel)):
            return []
        field = cur.model_fields.get(part)
        cur = _tagged(field.annotation) if field is not None else None
    return sorted(cur) if isinstance(cur, dict) else []


def error_message(err: Mapping[str, Any], root: type[BaseModel] | None = None) -> str:
    """One pydantic error as a sentence: unknown keys and kinds get "did you mean"."""
    loc = tuple(err.get("loc", ()))
    if err["type"] == "extra_forbidden":
        key = str(loc[-1]) if loc else ""
        model = _model_at(root, loc[:-1]) if root is not None else None
        hint = did_you_mean(key, model.model_fields) if model is not None else ""
        return f"unknown key{hint}"
    if err["type"] == "union_tag_invalid":
        tag = (err.get("ctx") or {}).get("tag", "")
        kinds = _kinds_at(root, loc) if root is not None else []
        return f"unknown fault kind {tag!r}{did_you_mean(str(tag), kinds)}" + (
            f" (known: {', '.join(kinds)})" if kinds else ""
        )
    msg = err["msg"].removeprefix("Value error, ")
    if "input" in err and err["type"] != "missing" and not isinstance(err["input"], (dict, list)):
        return f"{msg} (got {err['input']!r})"
    return msg


def _drop_tags(loc: tuple, root: type[BaseModel] | None) -> tuple:
    """Remove union tags and pydantic's `function-after[...]` parts from a location."""
    out: list[Any] = []
    cur: Any = root
    for part in loc:
        if isinstance(part, str) and "[" in part:
            continue
        if isinstance(part, int):
            out.append(part)
            continue
        if isinstance(cur, dict):
            cur = cur.get(part)
            continue
        out.append(part)
        if not (isinstance(cur, type) and issubclass(cur, BaseModel)):
            continue
        field = cur.model_fields.get(part)
        cur = _tagged(field.annotation) if field is not None else None
    return tuple(out)


def validation_problems(
    exc: ValidationError, root: type[BaseModel] | None = None, prefix: tuple = ()
) -> list[str]:
    """Each error of `exc` as `path: message` (the CLI's wording)."""
    out = []
    for err in exc.errors(include_url=False):
        loc = prefix + _drop_tags(tuple(err["loc"]), root)
        path = format_path(loc)
        out.append(f"{path}: {error_message(err, root)}" if path else error_message(err, root))
    return out


def reject_unknown_keys(cls: type[BaseModel], data: Any) -> Any:
    """For a `model_validator(mode="before")` of a strict model (the fault kinds): unknown keys
    become one error that names them with "did you mean", so Python constructors read like the
    CLI (`HttpFault(route=..., at_s=5)` -> `unknown key 'at_s' (did you mean 'from_s'?)`)."""
    if isinstance(data, dict):
        known = set(cls.model_fields) | {f.alias for f in cls.model_fields.values() if f.alias}
        unknown = [k for k in data if isinstance(k, str) and k not in known]
        if unknown:
            raise ValueError(
                "; ".join(f"unknown key {k!r}{did_you_mean(k, cls.model_fields)}" for k in unknown)
            )
    return data


# ------------------------------------------------------------------ faults that never fire
def plan_problems(
    faults: Iterable[Any],
    routes: frozenset[str] | None = None,
    has_trainer: bool = True,
    prefix: str = "faults",
) -> list[tuple[tuple, str]]:
    """Faults that validate but could never fire: ((loc), message) for each."""
    out: list[tuple[tuple, str]] = []
    for i, f in enumerate(faults):
        route = getattr(f, "route", None)
        if routes is not None and route and not route_known(route, routes):
            # suggest in the form the user wrote: short names for short, full for full
            short = {n.split(".", 1)[1] for n in routes if "." in n}
            pool = (
                routes | short
                if "." not in route or route.split(".")[0] not in {n.split(".")[0] for n in routes}
                else routes
            )
            out.append(
                (
                    (prefix, i, "route"),
                    f"unknown route name {route!r}"
                    f"{did_you_mean(route, pool)}; known: {', '.join(sorted(routes))} "
                    "(a short name such as 'jobs.get' matches that route of every dialect; "
                    "or give a path glob such as '/v1/*')",
                )
            )
        if not has_trainer and getattr(f, "at_step", None) is not None:
            out.append(
                (
                    (prefix, i, "at_step"),
                    "at_step counts trainer steps, but this "
                    "emulator has no trainer runtime, so it would never fire: pass "
                    "runtime=thread_runtime (drydock.trainer) or use after_running_s",
                )
            )
    return out


def check_plan(plan: Any, *, routes: frozenset[str] | None, has_trainer: bool) -> None:
    """Raise `FaultPlanProblems` when a fault of `plan` could never fire."""
    problems = plan_problems(plan.faults, routes, has_trainer)
    if problems:
        raise FaultPlanProblems([f"{format_path(loc)}: {msg}" for loc, msg in problems])


def check_for(emulator: Any, plan: Any) -> None:
    """`check_plan` against an `Emulator`'s mounted routes and runtime: what `Emulator.inject`
    (and so the pytest marker's `faults=`) should call before arming a plan."""
    from .runtime import NullRuntime

    cp = emulator.control_plane
    # A dialect's own runtime counts too when it reports optimizer steps; a runtime says it
    # does not with `reports_steps = False` (NullRuntime trains nothing at all).
    trainers = [cp.runtime, *getattr(cp, "runtimes", {}).values()]
    # Route names only matter to HTTP faults: most plans have none, and listing them walks
    # every dialect's routers.
    named = any(getattr(f, "route", None) for f in plan.faults)
    check_plan(
        plan,
        routes=frozenset(emulator.route_names()) if named else None,
        has_trainer=any(
            getattr(rt, "reports_steps", not isinstance(rt, NullRuntime)) for rt in trainers
        ),
    )


def inline_schema(model: type[BaseModel]) -> dict:
    """The model's JSON schema with its `$defs` inlined (for an OpenAPI request body)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def sub(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return sub(defs[ref.split("/")[-1]])
            # a discriminator's mapping points into $defs, which are gone: the tag name suffices
            return {
                k: (
                    {"propertyName": v["propertyName"]}
                    if k == "discriminator" and isinstance(v, dict) and "propertyName" in v
                    else sub(v)
                )
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [sub(v) for v in node]
        return node

    return sub(schema)
