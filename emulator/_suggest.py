""""Did you mean" suggestions and `path: message` wording shared by every validating entry point
(Python constructors, the /_drydock control routes, scenario YAML)."""

from __future__ import annotations

import difflib
from typing import Any, Iterable

__all__ = ["closest", "did_you_mean", "format_path"]


def closest(word: str, choices: Iterable[str], n: int = 1) -> list[str]:
    """The choices nearest to `word` (difflib's ratio, cutoff 0.6), best first. A word that only
    swaps a unit suffix (`at_s` for `from_s`) is found through its suffix too."""
    choices = list(dict.fromkeys(choices))
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
