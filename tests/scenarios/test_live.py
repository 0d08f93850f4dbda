"""The live progress view: fed by EventLog.subscribe, shows clock, job states, steps, loss."""

from __future__ import annotations

from rich.console import Console

from drydock.emulator import EventLog
from drydock.scenarios import load_builtin
from drydock.scenarios.live import LiveView


def test_live_view_tracks_events_it_is_subscribed_to():
    console = Console(record=True, width=160)
    view = LiveView(load_builtin("preempt-mid-step"), 1, console, enabled=False)
    log = EventLog()
    log.subscribe(view.on_event)
    log.append(0.0, "job.state", "a", "sft-main", src=None, dst="CREATING")
    log.append(90.0, "job.state", "a", "sft-main", src="CREATING", dst="RUNNING")
    log.append(120.0, "workload.step", "a", "sft-main", step=3, loss=2.25)
    log.append(150.0, "fault.preempt", "a", "sft-main", fired=True)
    log.append(150.0, "job.state", "a", "sft-main", src="RUNNING", dst="FAILED")
    log.append(240.0, "job.resume", "a", "sft-main", resumes=1)
    with view:  # disabled (not a terminal): a no-op context
        pass
    console.print(view.render())
    text = console.export_text()
    assert "virtual 0:04:00.0" in text and "events 6" in text
    row = next(line for line in text.splitlines() if line.startswith("sft-main"))
    assert row.split() == ["sft-main", "FAILED", "3", "2.2500", "1", "1"]
    assert "last: job.resume sft-main" in text
