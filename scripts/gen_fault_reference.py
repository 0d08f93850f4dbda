"""Write docs/faults.md: every fault kind drydock defines, with its fields (type, unit, default,
bounds), its trigger, a YAML example, and the route names each dialect offers to HTTP faults.

    python scripts/gen_fault_reference.py            # rewrite docs/faults.md
    python scripts/gen_fault_reference.py --check    # exit 1 when docs/faults.md is stale

Everything is read from the code: the fault models (`drydock.emulator.faults.fault_kinds()`)
and the routes an `Emulator` mounts (`Emulator.route_names()`). `tests/docs/test_fault_reference.py`
fails when the page is not current.
"""

from __future__ import annotations

import argparse
import sys
import typing
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "docs" / "faults.md"

# What each field means, where the model itself does not say (a field's own `description` wins).
FIELD_DOCS: dict[str, str] = {
    "job": "the job id this fault targets, or `*` for every job",
    "at_s": "fire at this virtual time (seconds since the emulator's clock started)",
    "after_running_s": "fire this long after the job first became RUNNING",
    "at_step": "fire right after the trainer finishes optimizer step N (1-based); the call "
               "that was in flight (that step's answer) is lost",
    "via": "the state the job passes through on its way to FAILED (held `hold_s`)",
    "hold_s": "how long the job stays in `via`",
    "reason": "the status message the job fails with",
    "rate_per_hour": "Poisson arrivals: mean preemptions per hour, from `at_s` (or 0) to `until_s`",
    "until_s": "end of the window (virtual seconds since the clock started)",
    "node": "which node of a multi-node job fails (0-based)",
    "state": "the transitional state to hold",
    "seconds": "how long the state lasts",
    "count": "how many times it applies (0 = every time)",
    "duration_s": "how long the starvation lasts (none = until the end of the run)",
    "accelerator_type": "the pool's accelerator type, or `*` for every pool",
    "region": "the pool's region, or `*` for every region",
    "accelerators": "accelerators the pool can still hand out while starved",
    "route": "a route name (below; a short name such as `jobs.get` matches that route of every "
             "dialect) or a path glob such as `/v1/*`",
    "method": "HTTP method to match, or `*`",
    "status": "answer with this HTTP status (400-599), in the owning dialect's error format",
    "retry_after_s": "send a `Retry-After` header with this many seconds",
    "latency_s": "delay the answer by this many virtual seconds",
    "reset": "drop the connection instead of answering",
    "lose_response": "let the request succeed on the server, then lose the answer "
                     "(needs `status` or `reset`)",
    "skip": "let the first N matching requests through",
    "from_s": "start of the window (virtual seconds since the clock started)",
    "period_s": "length of one flap cycle",
    "down_s": "seconds of each cycle healthz answers 503 (shorter than `period_s`)",
    "after_s": "idle time before the stop; none = the job's own inactivity timeout",
    "exit_code": "the trainer's exit code",
    "nth": "which checkpoint save of the job fails (1-based)",
    "kill_trainer": "also kill the trainer mid-write (else only the save fails)",
}
# Per kind, where one name means something else than FIELD_DOCS says.
KIND_FIELD_DOCS: dict[tuple[str, str], str] = {
    ("hold_state", "count"): "how many times the state is held (0 = every time)",
    ("http", "count"): "how many matching requests are hit after `skip` (0 = unlimited)",
    ("trainer_crash", "count"): "crashes in all: > 1 crashes again after each resume (a crash loop)",
    ("capacity", "at_s"): "when the starvation starts (virtual seconds since the clock started)",
    ("healthz_flap", "at_s"): "when the flapping starts (virtual seconds since the clock started)",
}
TRIGGERS = ("at_s", "after_running_s", "at_step")


def _unit(name: str) -> str:
    if name.endswith("_per_hour"):
        return "per virtual hour"
    if name.endswith("_s") or name == "seconds":
        return "virtual seconds"
    if name == "at_step":
        return "optimizer steps"
    if name in ("count", "skip"):
        return "times" if name == "count" else "requests"
    if name == "nth":
        return "saves"
    return ""


def _type(annotation: Any) -> str:
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if args and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return " \\| ".join(_type(a) for a in rest) + " \\| none"
    return getattr(annotation, "__name__", str(annotation)).replace("NoneType", "none")


def _bounds(field: Any) -> str:
    out = []
    for m in field.metadata:
        for attr, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if getattr(m, attr, None) is not None:
                out.append(f"{sym} {getattr(m, attr)}")
    return ", ".join(out)


def _default(field: Any) -> str:
    if field.is_required():
        return "**required**"
    d = field.default
    return "none" if d is None else f"`{str(d).lower() if isinstance(d, bool) else d}`"


def _doc(kind: str, name: str, field: Any) -> str:
    return field.description or KIND_FIELD_DOCS.get((kind, name)) or FIELD_DOCS.get(name, "")


def _example(kind: str, cls: Any) -> str:
    ex: dict[str, Any] = {"kind": kind}
    for name, field in cls.model_fields.items():
        if name == "kind":
            continue
        if field.is_required():
            ann = field.annotation
            lit = typing.get_args(ann) if typing.get_origin(ann) is typing.Literal else ()
            ex[name] = lit[0] if lit else {"route": "jobs.get", "seconds": 120,
                                            "period_s": 60, "down_s": 10}.get(name, 1)
    if set(TRIGGERS) <= set(cls.model_fields):
        ex["job"] = "sft"
        ex["after_running_s"] = 600
    if kind == "http":
        ex["status"] = 503
    if kind == "hold_state":
        ex["count"] = 1
    body = ", ".join(f"{k}: {v}" for k, v in ex.items())
    return f"- {{{body}}}"


def render() -> str:
    from drydock.emulator import Emulator
    from drydock.emulator._http import iter_routes
    from drydock.emulator.faults import fault_kinds

    kinds = fault_kinds()
    lines = [
        "# Fault reference",
        "",
        "<!-- generated by scripts/gen_fault_reference.py from the fault models and the mounted",
        "     routes; do not edit by hand: run `python scripts/gen_fault_reference.py` -->",
        "",
        "A fault plan is a list of faults, given as Python objects (`from drydock.emulator import",
        "Preempt, ...`), as YAML (a scenario's `faults:` or `FaultPlan.from_yaml`), as JSON to",
        "`POST /_drydock/faults`, or to `@pytest.mark.drydock(faults=...)`. Every entry point",
        "checks them the same way: unknown keys and kinds get a \"did you mean\", an unknown route",
        "name and an `at_step` trigger without a trainer are refused (they could never fire).",
        "",
        "**Time** is virtual: seconds on the emulator's clock, which in tests moves only when",
        "something waits (`virtual_time`) or is advanced. **Triggers** of the one-shot kinds",
        "(marked *timed* below) are exactly one of:",
        "",
        "| trigger | fires |",
        "|---|---|",
        "| `at_s` | at this virtual time (seconds since the emulator's clock started) |",
        "| `after_running_s` | this long after the job first became RUNNING |",
        "| `at_step` | right after the trainer finishes optimizer step N (1-based): the job is "
        "hit before that step's answer reaches the client, so the call in flight fails. Needs a "
        "trainer runtime. |",
        "",
        "A fault that fires logs a `fault.<kind>` event (with `fired: false` and a reason when its",
        "job was not in a state it can act on). A scenario run also logs `fault.never_fired`, and",
        "prints a warning, for each fault that never fired at all.",
        "",
        "Kinds: " + ", ".join(f"[`{k}`](#{k})" for k in kinds) + ".",
        "",
    ]
    for kind, cls in kinds.items():
        fields = {n: f for n, f in cls.model_fields.items() if n != "kind"}
        timed = set(TRIGGERS) <= set(fields)
        doc = " ".join((cls.__doc__ or "").split())
        lines += [f"## {kind}", "", f"`{cls.__name__}`" + (" (timed)" if timed else "") +
                  f": {doc}", "", "```yaml", _example(kind, cls), "```", "",
                  "| field | type | unit | default | bounds | meaning |",
                  "|---|---|---|---|---|---|"]
        for name, field in fields.items():
            lines.append(f"| `{name}` | {_type(field.annotation)} | {_unit(name)} | "
                         f"{_default(field)} | {_bounds(field)} | {_doc(kind, name, field)} |")
        if timed:
            lines += ["", "Give exactly one of `at_s`, `after_running_s`, `at_step`"
                      + (" (or `rate_per_hour` with `until_s`)." if "rate_per_hour" in fields
                         else ".")]
        lines.append("")
    with Emulator() as emu:
        routes = [r for r in iter_routes(emu.app.routes) if getattr(r, "name", "")]
        names = set(emu.route_names())
        dialects = [d.name for d in emu.dialects]
    lines += ["## Route names", "",
              "What `HttpFault.route` names. A full name is `<dialect>.<route>`; the short form",
              "(the part after the dialect) matches that route in every dialect. A `route`",
              "containing `/` or `*` is a path glob instead. drydock's own `/_drydock` routes are",
              "never faulted.", ""]
    for dialect in dialects:
        lines += [f"### {dialect}", "", "| route name | method | path |", "|---|---|---|"]
        for r in sorted((r for r in routes if r.name in names
                         and r.name.startswith(dialect + ".")), key=lambda r: r.name):
            methods = ", ".join(sorted(m for m in (r.methods or ()) if m != "HEAD"))
            lines.append(f"| `{r.name}` | {methods} | `{r.path}` |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/faults.md is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = OUT.read_text() if OUT.exists() else ""
        if current != text:
            print(f"{OUT} is stale: run python scripts/gen_fault_reference.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
