"""RestoreableJob: register/latest, checkpoints listing, restore, from_checkpoint(_path)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from drydock.sdk import _jobs_store
from drydock.sdk.jobs import (
    CheckpointCorruptError,
    CheckpointNotFoundError,
    ExecutionSpec,
    InvalidCheckpointPathError,
    JobSpecError,
    RestoreableJob,
)


class Counter(RestoreableJob):
    """A toy job: state is a step counter and a list of weights."""

    def __init__(self, spec: ExecutionSpec) -> None:
        super().__init__(spec)
        self.state: dict[str, Any] = {"step": 0, "w": [0.0, 0.0]}
        self.restored_from: str | None = None

    def run(self) -> None:
        self.state["step"] += 1

    def save(self, suffix: str) -> str:
        self.save_tree_and_metadata(suffix, self.state, {"step": self.state["step"]})
        return suffix

    def restore_from_path(self, rel_path: str | Path) -> None:
        self.state, _ = self.get_tree_and_metadata_from_path(rel_path, self.state)
        self.restored_from = Path(rel_path).as_posix()


@pytest.fixture
def spec(tmp_path: Path) -> ExecutionSpec:
    return ExecutionSpec(project="proj", group="grp", job_name="rl", checkpoints_dir=tmp_path,
                         config={"lr": 0.1, "opt": {"beta": 0.9, "eps": 1e-8}}, run_id="origrun1")


def _job_at(spec: ExecutionSpec, step: int, w: list[float]) -> Counter:
    job = Counter(spec)
    job.state = {"step": step, "w": w}
    return job


def test_latest_is_none_until_registered(spec: ExecutionSpec) -> None:
    job = _job_at(spec, 5, [1.0, 2.0])
    assert Counter.latest(spec) is None and Counter.checkpoints(spec) == []
    job.save("step-5")
    assert Counter.latest(spec) is None  # saved, but not registered
    job.register("step-5")
    assert Counter.latest(spec) == "step-5"


def test_register_refuses_incomplete_or_missing_checkpoints(spec: ExecutionSpec) -> None:
    job = _job_at(spec, 1, [0.0, 0.0])
    with pytest.raises(CheckpointNotFoundError):
        job.register("never-saved")
    # A crashed save leaves a temp dir only: still not registrable.
    (job.checkpoints_dir / job.rel_path("half") / ".tmp-x").mkdir(parents=True)
    with pytest.raises(CheckpointNotFoundError):
        job.register("half")
    with pytest.raises(InvalidCheckpointPathError):
        job.register("../escape")
    assert Counter.latest(spec) is None


def test_checkpoints_lists_complete_ones_in_natural_order(spec: ExecutionSpec) -> None:
    job = _job_at(spec, 0, [0.0, 0.0])
    for suffix in ["step-10", "step-2", "step-1", "final/model"]:
        job.save(suffix)
    (job.checkpoints_dir / job.rel_path("step-99") / ".tmp-crashed").mkdir(parents=True)
    assert Counter.checkpoints(spec) == ["final/model", "step-1", "step-2", "step-10"]


def test_restore_and_restore_latest(spec: ExecutionSpec) -> None:
    writer = _job_at(spec, 3, [0.5, 1.5])
    writer.register(writer.save("step-3"))
    writer.state = {"step": 4, "w": [9.0, 9.0]}
    writer.save("step-4")  # newer, but never registered
    fresh = Counter(spec)
    assert fresh.restore_latest() == "step-3"
    assert fresh.state == {"step": 3, "w": [0.5, 1.5]}
    assert fresh.restored_from == "proj/grp/rl/step-3"
    fresh.restore("step-4")
    assert fresh.state == {"step": 4, "w": [9.0, 9.0]}
    with pytest.raises(CheckpointNotFoundError):
        fresh.restore("step-5")


def test_latest_pointer_survives_a_failed_register(spec: ExecutionSpec,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    job = _job_at(spec, 1, [1.0, 1.0])
    job.register(job.save("step-1"))
    job.state = {"step": 2, "w": [2.0, 2.0]}
    job.save("step-2")

    def boom(src: Path, dst: Path) -> None:
        raise OSError("crash before the pointer moved")

    monkeypatch.setattr(_jobs_store, "rename", boom)
    with pytest.raises(OSError):
        job.register("step-2")
    monkeypatch.undo()
    assert Counter.latest(spec) == "step-1"
    assert not [p for p in job.job_dir.iterdir() if p.name.startswith(".")]


def test_failed_save_keeps_latest_and_its_content(spec: ExecutionSpec,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    job = _job_at(spec, 1, [1.0, 1.0])
    job.register(job.save("latest-slot"))
    job.state = {"step": 2, "w": [2.0, 2.0]}
    real = _jobs_store.write_file

    def fail_on_metadata(path: Path, data: bytes) -> None:
        if path.name == "metadata.json":
            raise OSError("io error")
        real(path, data)

    monkeypatch.setattr(_jobs_store, "write_file", fail_on_metadata)
    with pytest.raises(OSError):
        job.save("latest-slot")
    monkeypatch.undo()
    fresh = Counter(spec)
    assert fresh.restore_latest() == "latest-slot"
    assert fresh.state == {"step": 1, "w": [1.0, 1.0]}


def test_corrupt_latest_pointer_is_a_typed_error(spec: ExecutionSpec) -> None:
    spec.job_dir.mkdir(parents=True)
    (spec.job_dir / "_LATEST").write_text("[]")
    with pytest.raises(CheckpointCorruptError):
        Counter.latest(spec)


def test_from_checkpoint_resume_restores_saved_identity(spec: ExecutionSpec,
                                                        tmp_path: Path) -> None:
    writer = _job_at(spec, 7, [7.0, 7.5])
    writer.register(writer.save("step-7"))
    relaunch = ExecutionSpec(project="proj", group="grp", job_name="rl",
                             checkpoints_dir=tmp_path, run_id="newrun22", config={"lr": 0.5})
    job, config = Counter.from_checkpoint(Counter.latest(relaunch), relaunch,
                                          runtime_cfg={"opt": {"eps": 1e-6}}, resume=True)
    assert isinstance(job, Counter)
    assert job.spec.run_id == "origrun1"  # rejoins the original logging session
    assert (job.spec.project, job.spec.group, job.spec.job_name) == ("proj", "grp", "rl")
    assert config == {"lr": 0.1, "opt": {"beta": 0.9, "eps": 1e-6}}
    assert job.spec.config == config and job.config == config
    assert job.state == {"step": 7, "w": [7.0, 7.5]}


def test_from_checkpoint_path_without_resume_keeps_caller_identity(spec: ExecutionSpec,
                                                                   tmp_path: Path) -> None:
    writer = _job_at(spec, 7, [7.0, 7.5])
    writer.save("step-7")
    caller = ExecutionSpec(project="proj2", group="eval", job_name="dpo",
                           checkpoints_dir=tmp_path, run_id="callerid", config={"ignored": 1})
    job, config = Counter.from_checkpoint_path("proj/grp/rl/step-7", caller,
                                               runtime_cfg={"lr": 0.01})
    assert job.spec.run_id == "callerid"
    assert (job.spec.project, job.spec.group, job.spec.job_name) == ("proj2", "eval", "dpo")
    assert config == {"lr": 0.01, "opt": {"beta": 0.9, "eps": 1e-8}}
    assert job.state["step"] == 7 and job.restored_from == "proj/grp/rl/step-7"
    # The restored job saves under its own identity, not the source's.
    job.save("from-rl")
    assert Counter.checkpoints(caller) == ["from-rl"]


def test_from_checkpoint_with_config_model(spec: ExecutionSpec) -> None:
    class Opt(BaseModel):
        beta: float
        eps: float

    class Cfg(BaseModel):
        lr: float
        opt: Opt

    class Typed(Counter):
        config_model = Cfg

    _job_at(spec, 1, [0.0, 0.0]).save("s")
    job, config = Typed.from_checkpoint("s", spec, runtime_cfg={"lr": 2.0})
    assert isinstance(config, Cfg) and config.lr == 2.0 and config.opt.beta == 0.9
    assert job.config is config
    with pytest.raises(JobSpecError):
        Typed.from_checkpoint("s", spec, runtime_cfg={"lr": "not a float"})


def test_from_checkpoint_missing(spec: ExecutionSpec) -> None:
    with pytest.raises(CheckpointNotFoundError):
        Counter.from_checkpoint("step-1", spec)
