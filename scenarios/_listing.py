"""`drydock list`: one line per built-in scenario, cut to the terminal's width."""

from __future__ import annotations

import shutil

__all__ = ["scenario_list_lines"]


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def scenario_list_lines(width: int | None = None) -> list[str]:
    """`name  [faults] summary` per built-in, each line at most `width` characters (the
    terminal's, honoring $COLUMNS; 80 when unknown). `drydock show NAME` prints the whole file."""
    from .library import builtin_names, load_builtin

    width = width or shutil.get_terminal_size((80, 24)).columns
    rows = []
    for name in builtin_names():
        s = load_builtin(name)
        kinds = ",".join(dict.fromkeys(f.kind for f in s.faults)) or "-"
        first = s.description.split(". ")[0].strip().rstrip(".")
        rows.append((name + (" (slow)" if s.slow else ""), f"[{kinds}] {first}"))
    pad = max(len(n) for n, _ in rows)
    out = [_fit(f"{'scenario':<{pad}}  [faults] summary (full: drydock show NAME)", width)]
    out += [_fit(f"{n:<{pad}}  {rest}", width) for n, rest in rows]
    return out
