"""Kubernetes wire basics: metav1.Status errors, RFC 3339 timestamps, label selectors."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from starlette.responses import JSONResponse

__all__ = [
    "K8sError",
    "status_body",
    "status_response",
    "ts",
    "parse_selector",
    "selector_matches",
    "NAME_RE",
    "GROUP",
    "VERSION",
    "API_VERSION",
]

GROUP = "trainer.kubeflow.org"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
# RFC 1035 label: what the TrainJob webhook requires of a name.
NAME_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")

_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "AlreadyExists",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
}


class K8sError(Exception):
    """An API error rendered as a `metav1.Status` (code, reason, message, details)."""

    def __init__(
        self,
        code: int,
        message: str,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or _REASONS.get(code, "Unknown")
        self.details = details

    @classmethod
    def not_found(cls, plural: str, name: str, group: str = GROUP) -> K8sError:
        qual = f"{plural}.{group}" if group else plural
        return cls(
            404,
            f'{qual} "{name}" not found',
            details={"name": name, "group": group, "kind": plural},
        )

    @classmethod
    def invalid(cls, kind: str, name: str, causes: list[tuple[str, str]]) -> K8sError:
        """422 Invalid: `causes` are (field, message) pairs."""
        detail = ", ".join(f"{f}: {m}" for f, m in causes)
        return cls(
            422,
            f'{kind}.{GROUP} "{name}" is invalid: {detail}',
            "Invalid",
            details={
                "name": name,
                "group": GROUP,
                "kind": kind,
                "causes": [
                    {"reason": "FieldValueInvalid", "field": f, "message": m} for f, m in causes
                ],
            },
        )


def status_body(
    code: int, message: str, reason: str | None = None, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason or _REASONS.get(code, "Unknown"),
        "code": code,
    }
    if details:
        body["details"] = details
    return body


def status_response(
    code: int,
    message: str,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        status_body(code, message, reason, details), status_code=code, headers=headers
    )


def ts(seconds: float) -> str:
    """RFC 3339 with `Z` and whole seconds, as the API server writes them."""
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------ label selectors
_SET_RE = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\((.*)\)\s*$")


def _split_top(selector: str) -> list[str]:
    """Split on commas outside parentheses (`a=b,c in (x, y)`)."""
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def parse_selector(selector: str | None) -> list[tuple[str, str, frozenset[str]]]:
    """`k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a)`, `k`, `!k` -> (key, op, values).
    A malformed requirement raises K8sError(400), as the API server answers."""
    reqs: list[tuple[str, str, frozenset[str]]] = []
    for part in _split_top(selector or ""):
        if m := _SET_RE.match(part):
            values = frozenset(v.strip() for v in m.group(3).split(",") if v.strip())
            reqs.append((m.group(1), m.group(2), values))
        elif "!=" in part:
            k, v = part.split("!=", 1)
            reqs.append((k.strip(), "!=", frozenset({v.strip()})))
        elif "=" in part:
            k, v = part.split("==", 1) if "==" in part else part.split("=", 1)
            reqs.append((k.strip(), "=", frozenset({v.strip()})))
        elif part.startswith("!") and re.fullmatch(r"![\w./-]+", part):
            reqs.append((part[1:], "!exists", frozenset()))
        elif re.fullmatch(r"[\w./-]+", part):
            reqs.append((part, "exists", frozenset()))
        else:
            raise K8sError(400, f"unable to parse requirement: {part!r}")
    return reqs


def selector_matches(reqs: list[tuple[str, str, frozenset[str]]], labels: dict[str, str]) -> bool:
    for key, op, values in reqs:
        have = labels.get(key)
        if op in ("=", "in") and have not in values:
            return False
        if op in ("!=", "notin") and have in values:
            return False
        if op == "exists" and have is None:
            return False
        if op == "!exists" and have is not None:
            return False
    return True
