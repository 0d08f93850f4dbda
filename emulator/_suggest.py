""" "Did you mean" suggestions and `path: message` wording shared by every validating entry point
(Python constructors, the /_drydock control routes, scenario YAML)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

__all__ = ["closest", "did_you_mean", "format_path"]


# Names that mean the same thing on another fault kind: one kind's trigger is another's window.
_ALIASES: dict[str, tuple[str, ...]] = {
    "at_s": ("from_s",),
    "from_s": ("at_s",),
    "start_s": ("at_s", "from_s"),
    "until": ("until_s",),
    "end_s": ("until_s",),
    "duration": ("duration_s", "seconds"),
    "step": ("at_step",),
    "after_s": ("after_running_s",),
    "seconds": ("hold_s",),
    "hold_s": ("seconds",),
    "retry_after": ("retry_after_s",),
    "latency": ("latency_s",),
    "type": ("kind",),
    "job_id": ("job",),
    "path": ("route",),
    "code": ("status",),
}


def closest(word: str, choices: Iterable[str], n: int = 1) -> list[str]:
    """The choices nearest to `word`, best first: a known synonym of another fault kind (`at_s`
    on an http fault is its `from_s`), else difflib's nearest (ratio cutoff 0.6), else a name
    with the same unit suffix when few have it."""
    choices = list(dict.fromkeys(choices))
    aliases = [a for a in _ALIASES.get(word, ()) if a in choices]
    if aliases:
        return aliases[:n]
    found = difflib.get_close_matches(word, choices, n=n, cutoff=0.6)
    if not found and "_" in word:  # at_s -> from_s / until_s: same unit, other name
        suffix = "_" + word.rsplit("_", 1)[1]
        same = [c for c in choices if c.endswith(suffix)]
        found = same[:n] if len(same) <= 3 else []
    return found


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """` (did you mean 'x'?)`, or '' when nothing is close."""
    found = closest(word, choices, n=2)
    if not found:
        return ""
    return " (did you mean " + " or ".join(repr(f) for f in found) + "?)"


def format_path(loc: Iterable[Any]) -> str:
    """`('faults', 0, 'at_s')` -> `faults[0].at_s`."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
