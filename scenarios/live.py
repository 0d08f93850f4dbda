"""The live progress view of `drydock run`: virtual clock, job states, steps and loss, fed by
`EventLog.subscribe` and redrawn by rich's own refresh thread (the listener only records)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from drydock.emulator import Event

from .report import fmt_t

if TYPE_CHECKING:
    from rich.console import Console, Group
    from rich.live import Live

    from .spec import Scenario

__all__ = ["LiveView"]


class LiveView:
    def __init__(
        self, scenario: Scenario, seed: int, console: Console, enabled: bool = True
    ) -> None:
        self.scenario = scenario
        self.seed = seed
        self.console = console
        self.enabled = enabled
        self._lock = threading.Lock()
        self.t = 0.0
        self.count = 0
        self.jobs: dict[str, dict[str, Any]] = {}
        self.last = ""
        self._live: Live | None = None

    def on_event(self, ev: Event) -> None:
        with self._lock:
            self.t = ev.t
            self.count += 1
            if ev.job:
                row = self.jobs.setdefault(
                    ev.job, {"state": "-", "step": 0, "loss": None, "resumes": 0, "faults": 0}
                )
                if ev.kind == "job.state":
                    row["state"] = ev.detail.get("dst")
                elif ev.kind == "job.resume":
                    row["resumes"] = ev.detail.get("resumes", row["resumes"] + 1)
                elif ev.kind == "workload.step":
                    row["step"] = ev.detail.get("step", row["step"])
                    row["loss"] = ev.detail.get("loss", row["loss"])
                elif (
                    ev.kind.startswith("fault.")
                    and ev.detail.get("fired", True)
                    and ev.kind not in ("fault.injected", "fault.healthz_down")
                ):
                    row["faults"] += 1
            if ev.kind not in ("workload.step", "scenario.start"):
                self.last = f"{ev.kind} {ev.job}".strip()

    def render(self) -> Group:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        with self._lock:
            head = Text(
                f"{self.scenario.name}  seed {self.seed}  virtual {fmt_t(self.t)}  "
                f"events {self.count}  last: {self.last}"
            )
            table = Table(box=None, pad_edge=False)
            for col in ("job", "state", "step", "loss", "resumes", "faults"):
                table.add_column(col)
            for job, r in sorted(self.jobs.items()):
                loss = f"{r['loss']:.4f}" if isinstance(r["loss"], (int, float)) else "-"
                table.add_row(
                    job, str(r["state"]), str(r["step"]), loss, str(r["resumes"]), str(r["faults"])
                )
        return Group(head, table)

    def __enter__(self) -> LiveView:
        if self.enabled:
            from rich.live import Live

            self._live = Live(
                console=self.console,
                get_renderable=self.render,
                refresh_per_second=8,
                transient=True,
            )
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)
            self._live = None
