"""timeline.png: one lane per job, faults as markers, the loss curve beneath; the timeline table."""

from __future__ import annotations

import json

import matplotlib.image as mpimg
from PIL import Image

from drydock.scenarios import plot_timeline, write_outputs
from drydock.scenarios.report import timeline_rows


def test_two_job_scenario_gives_two_lanes(tmp_path, run_builtin):
    result = run_builtin("capacity-queue-behind-reservation")
    plot = plot_timeline(result.events, tmp_path / "t.png", title="two jobs")
    assert plot.lanes == ["other-team", "queued"]
    assert plot.fault_markers == 1  # the external cancel of other-team
    assert plot.loss_points == 0  # a lifecycle run trains nothing
    # spans: other-team CREATING, RUNNING, CANCELLING, CANCELLED; queued PENDING ... DELETED
    assert plot.spans == sum(1 for e in result.events if e.kind == "job.state")
    with Image.open(plot.path) as im:
        assert im.format == "PNG"
        assert im.size == plot.size_px
    pixels = mpimg.imread(plot.path)
    assert pixels.shape[0] == plot.size_px[1] and pixels.shape[1] == plot.size_px[0]
    assert len({tuple(p) for p in pixels.reshape(-1, pixels.shape[-1])[::97]}) > 5  # not blank


def test_training_run_has_loss_curve_and_out_files(tmp_path, run_builtin):
    result = run_builtin("preempt-mid-step")
    meta = write_outputs(result, tmp_path)
    assert meta["lanes"] == ["sft-main"]
    steps = [e for e in result.events if e.kind == "workload.step"]
    assert meta["loss_points"] == len(steps) >= 20
    assert meta["fault_markers"] == 1
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["scenario"] == "preempt-mid-step" and summary["replay"].endswith("--seed 1")
    assert (tmp_path / "events.jsonl").read_text() == result.events_jsonl()
    with Image.open(tmp_path / "timeline.png") as im:
        one_lane_no_loss = plot_timeline([], tmp_path / "empty.png").size_px
        assert im.size[1] > one_lane_no_loss[1]  # the loss panel adds height


def test_timeline_rows_skip_noise_and_elide_the_middle(run_builtin):
    result = run_builtin("rate-limit-429-storm")
    rows = timeline_rows(result.events)
    kinds = [r[1] for r in rows]
    assert "fault.http" in kinds and "job.state" in kinds and "scenario.start" not in kinds
    short = timeline_rows(result.events, limit=4)
    assert len(short) == 5 and "more" in short[2][1]


def test_an_rl_run_plots_its_reward_where_it_logs_no_loss(tmp_path):
    from drydock.emulator import EventLog

    log = EventLog()
    log.append(0.0, "job.state", "a", "rl", src="CREATING", dst="RUNNING")
    for i, reward in enumerate((0.25, 0.5, 0.75)):
        log.append(30.0 * (i + 1), "workload.step", "a", "rl", step=i + 1, reward=reward)
    plot = plot_timeline(list(log), tmp_path / "rl.png")
    assert plot.loss_points == 3  # the curve's points: the rewards
    log.append(120.0, "workload.step", "a", "rl", step=4, loss=1.0, reward=1.0)
    assert plot_timeline(list(log), tmp_path / "both.png").loss_points == 1  # loss first
