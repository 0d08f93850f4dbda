"""Server-side printing (`meta.k8s.io/v1` Table): the columns kubectl shows for `get`."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

__all__ = [
    "wants_table",
    "table",
    "age",
    "pod_row",
    "trainjob_row",
    "POD_COLUMNS",
    "TRAINJOB_COLUMNS",
]


def _col(name: str, kind: str = "string", fmt: str = "", description: str = "") -> dict[str, Any]:
    return {"name": name, "type": kind, "format": fmt, "description": description, "priority": 0}


POD_COLUMNS = [
    _col("Name", fmt="name"),
    _col("Ready"),
    _col("Status"),
    _col("Restarts", "string"),
    _col("Age"),
]
TRAINJOB_COLUMNS = [_col("Name", fmt="name"), _col("State"), _col("Age")]


def wants_table(request: Request) -> bool:
    return "as=Table" in request.headers.get("accept", "")


def age(seconds: float) -> str:
    """kubectl's short duration (`45s`, `3m20s`, `5h`, `2d`)."""
    s = max(0, int(seconds))
    if s < 120:
        return f"{s}s"
    if s < 600:
        return f"{s // 60}m{s % 60}s" if s % 60 else f"{s // 60}m"
    if s < 3 * 3600:
        return f"{s // 60}m"
    if s < 48 * 3600:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


def table(
    columns: list[dict[str, Any]], rows: list[tuple[list[Any], dict[str, Any]]]
) -> dict[str, Any]:
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": "1"},
        "columnDefinitions": columns,
        "rows": [
            {
                "cells": cells,
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": obj["metadata"],
                },
            }
            for cells, obj in rows
        ],
    }


def pod_row(obj: dict[str, Any], now: float, created: float) -> list[Any]:
    status = obj["status"]
    shown = status["phase"]
    if shown == "Succeeded":
        shown = "Completed"
    elif shown == "Failed":
        shown = status.get("reason") or "Error"
    ready = "1/1" if status["phase"] == "Running" else "0/1"
    return [obj["metadata"]["name"], ready, shown, "0", age(now - created)]


def trainjob_row(obj: dict[str, Any], state: str, now: float, created: float) -> list[Any]:
    return [obj["metadata"]["name"], state, age(now - created)]
