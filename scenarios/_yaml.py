"""YAML with line numbers: load a document and remember the line of every key and item, so a
pydantic error location (`('faults', 2, 'preempt', 'at_s')`) can be reported as `file:line`."""

from __future__ import annotations

from typing import Any

import yaml  # type: ignore[import-untyped]  # no types-PyYAML in the environment

__all__ = ["load_with_lines", "line_for", "format_loc"]

Path_ = tuple[Any, ...]


class YamlProblem(ValueError):
    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def load_with_lines(text: str) -> tuple[Any, dict[Path_, int]]:
    """Parse one YAML document; return (data, {path: 1-based line}). Duplicate keys are errors
    (PyYAML would silently keep the last one)."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {(): 1}
        lines: dict[Path_, int] = {}
        _walk(loader, node, (), lines)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        raise YamlProblem(*_where(exc)) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(None, f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    return data, lines


# An unclosed `[`, `{` or quote is reported by PyYAML where the parser gave up (the next line);
# the line to fix is the one that opened it.
_OPENERS = (
    "while parsing a flow",
    "while scanning a quoted",
    "while scanning a double-quoted",
    "while scanning a single-quoted",
)


def _where(exc: yaml.MarkedYAMLError) -> tuple[int | None, str]:
    problem = exc.problem or str(exc)
    if exc.context_mark is not None and (exc.context or "").startswith(_OPENERS):
        what = (exc.context or "").split(" ", 2)[-1]
        at = exc.problem_mark.line + 1 if exc.problem_mark else None
        return exc.context_mark.line + 1, (
            f"invalid YAML: {what} opened here is not closed "
            f"({problem}" + (f" on line {at})" if at else ")")
        )
    mark = exc.problem_mark or exc.context_mark
    return (mark.line + 1 if mark else None), f"invalid YAML: {problem}"


def _walk(loader: yaml.SafeLoader, node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise YamlProblem(
                    key_node.start_mark.line + 1, "a mapping key must be a scalar"
                ) from None
            if key in seen:
                raise YamlProblem(key_node.start_mark.line + 1, f"duplicate key {key!r}")
            seen.add(key)
            lines[path + (key,)] = key_node.start_mark.line + 1
            _walk(loader, value_node, path + (key,), lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[path + (i,)] = item.start_mark.line + 1
            _walk(loader, item, path + (i,), lines)


def line_for(loc: Path_, lines: dict[Path_, int]) -> int | None:
    """The line of the deepest part of `loc` that exists in the file. Parts that are not in the
    file (a tagged union's tag, a missing field) are skipped, so a missing field points at its
    parent mapping."""
    cur: Path_ = ()
    for part in loc:
        if cur + (part,) in lines:
            cur = cur + (part,)
    return lines.get(cur)


def format_loc(loc: Path_, lines: dict[Path_, int] | None = None) -> str:
    """`('faults', 0, 'preempt', 'at_s')` -> `faults[0].at_s`: parts that are not in the file are
    dropped (a tagged union's tag, `function-after[...]`), except a last part that names a
    missing field."""
    out = ""
    cur: Path_ = ()
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if not lines:  # no file positions (data built in code): drop only union tags
            if (
                isinstance(part, str)
                and (part in _fault_kinds() or "[" in part)
                and cur
                and isinstance(cur[-1], int)
            ):
                continue
        elif cur + (part,) not in lines:
            tag = cur + ("kind",) in lines and part in _fault_kinds()
            if not (last and isinstance(part, str) and part.isidentifier()) or tag:
                continue
        cur = cur + (part,)
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _fault_kinds() -> frozenset[str]:
    from typing import get_args

    from drydock.emulator.faults import Fault

    union = get_args(Fault)[0]
    return frozenset(get_args(t.model_fields["kind"].annotation)[0] for t in get_args(union))
