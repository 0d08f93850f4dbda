"""CheckpointedJob / BasicJob: paths, save/load of trees, partial restore, atomicity, done."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from drydock.sdk import _jobs_store
from drydock.sdk.jobs import (
    BasicJob,
    CheckpointCorruptError,
    CheckpointedJob,
    CheckpointNotFoundError,
    CheckpointStructureError,
    CheckpointTreeError,
    ExecutionSpec,
    InvalidCheckpointPathError,
    JobSpecError,
)


class Job(CheckpointedJob):
    runs = 0

    def run(self) -> None:
        type(self).runs += 1


@pytest.fixture
def spec(tmp_path: Path) -> ExecutionSpec:
    return ExecutionSpec(project="proj", group="grp", job_name="sft", checkpoints_dir=tmp_path,
                         config={"lr": 0.1}, run_id="run00001")


@pytest.fixture
def job(spec: ExecutionSpec) -> Job:
    return Job(spec)


def test_rel_path_and_legacy_absolute_path(job: Job, spec: ExecutionSpec, tmp_path: Path) -> None:
    assert job.rel_path("step-3").as_posix() == "proj/grp/sft/step-3"
    assert job.rel_path("a/b").as_posix() == "proj/grp/sft/a/b"
    path = CheckpointedJob._get_checkpoint_path(spec, "step-3")
    assert path.is_absolute() and path == tmp_path.absolute() / "proj/grp/sft/step-3"
    job.save_tree_and_metadata("step-3", {"x": 1}, {})
    assert (path / "_CURRENT").is_file()


@pytest.mark.parametrize("bad", ["", "/abs", "../up", "a/../../b", ".hidden", "_LATEST",
                                 "x/_CURRENT", "_DONE"])
def test_bad_paths_are_refused_before_any_write(job: Job, bad: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidCheckpointPathError):
        job.save_tree_and_metadata_from_path(bad, {"x": 1}, {})
    with pytest.raises(InvalidCheckpointPathError):
        job.save_tree_and_metadata(bad, {"x": 1}, {})
    assert list(tmp_path.iterdir()) == []


def test_bad_spec_segments_are_refused(tmp_path: Path) -> None:
    for bad in ["", "a/b", "..", ".x", "_x"]:
        with pytest.raises(ValueError):
            ExecutionSpec(project=bad, group="g", job_name="j", checkpoints_dir=tmp_path)
    with pytest.raises(JobSpecError):
        Job("not a spec")  # type: ignore[arg-type]


def test_default_run_id_is_wandb_style_and_fresh(tmp_path: Path) -> None:
    a = ExecutionSpec(project="p", group="g", job_name="j", checkpoints_dir=tmp_path)
    b = ExecutionSpec(project="p", group="g", job_name="j", checkpoints_dir=tmp_path)
    assert len(a.run_id) == 8 and a.run_id.isalnum() and a.run_id.lower() == a.run_id
    assert a.run_id != b.run_id


def test_plain_tree_round_trip_keeps_types(job: Job) -> None:
    tree = {"step": 7, "done": False, "loss": 0.25, "name": "x", "none": None,
            "nested": [1, (2.5, "s"), {"k": True}], 3: "int key", "inf": math.inf}
    job.save_tree_and_metadata("s", tree, {"step": 7, "tags": ["a"]})
    got, meta = job.get_tree_and_metadata("s", tree)
    assert got == tree
    assert isinstance(got["nested"][1], tuple) and got["done"] is False
    assert meta == {"step": 7, "tags": ["a"]}
    assert job.get_metadata("s") == meta
    assert job.get_raw_tree_from_path(job.rel_path("s")) == tree


def test_tensor_tree_round_trip(job: Job) -> None:
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    tree = {"model": {"w": base[:, 1], "b": torch.ones(2, dtype=torch.int64)}, "step": 3}
    job.save_tree_and_metadata("t", tree, {"kind": "trainer"})
    template = {"model": {"w": torch.zeros(3), "b": torch.zeros(2, dtype=torch.int64)},
                "step": 0}
    got, meta = job.get_tree_and_metadata("t", template)
    assert torch.equal(got["model"]["w"], torch.tensor([1.0, 5.0, 9.0]))
    assert torch.equal(got["model"]["b"], torch.ones(2, dtype=torch.int64))
    assert got["step"] == 3 and meta == {"kind": "trainer"}
    # A saved view must not drag its whole base storage along.
    blob = next((job.checkpoints_dir / job.rel_path("t")).glob(".v-*/tensors.pt"))
    big = torch.zeros(100_000)
    job.save_tree_and_metadata("v", {"w": big[:3]}, {})
    blob_v = next((job.checkpoints_dir / job.rel_path("v")).glob(".v-*/tensors.pt"))
    assert blob_v.stat().st_size < 10 * blob.stat().st_size


def test_from_path_reads_another_jobs_checkpoint(job: Job, tmp_path: Path) -> None:
    other = Job(ExecutionSpec(project="proj", group="grp", job_name="other",
                              checkpoints_dir=tmp_path, run_id="other001"))
    other.save_tree_and_metadata("final", {"w": [1, 2]}, {"from": "other"})
    tree, meta = job.get_tree_and_metadata_from_path("proj/grp/other/final", {"w": [0, 0]})
    assert tree == {"w": [1, 2]} and meta == {"from": "other"}
    assert job.get_metadata_from_path(Path("proj/grp/other/final")) == {"from": "other"}


def test_strict_restore_reports_mismatches(job: Job) -> None:
    job.save_tree_and_metadata("s", {"model": {"w": torch.zeros(3)}, "opt": {"m": 1},
                                     "xs": [1, 2]}, {})
    full = {"model": {"w": torch.zeros(3)}, "opt": {"m": 0}, "xs": [0, 0]}
    assert job.get_tree_and_metadata("s", full)[0]["opt"] == {"m": 1}
    cases = {
        "unexpected 'opt'": {"model": {"w": torch.zeros(3)}, "xs": [0, 0]},
        "float32[4]": {**full, "model": {"w": torch.zeros(4)}},
        "float64[3]": {**full, "model": {"w": torch.zeros(3, dtype=torch.float64)}},
        "sequence length": {**full, "xs": [0, 0, 0]},
        "template has a tensor": {**full, "opt": {"m": torch.zeros(1)}},
        "template has a plain value": {**full, "model": {"w": 0.0}},
        "template has a dict": {**full, "xs": {"a": 1}},
    }
    for needle, template in cases.items():
        with pytest.raises(CheckpointStructureError, match=needle.replace("[", r"\[")):
            job.get_tree_and_metadata("s", template)


def test_partial_restore_loads_exactly_the_template_leaves(job: Job) -> None:
    saved = {"model": {"w": torch.full((3,), 2.0), "b": torch.full((2,), 3.0)},
             "opt": {"m": torch.ones(3), "step": 9}, "step": 9, "xs": [1, 2, 3]}
    job.save_tree_and_metadata("ckpt", saved, {"step": 9})
    template = {
        "model": {"w": torch.zeros(3), "b": torch.zeros(5), "new": torch.zeros(1)},
        "step": -1,
        "xs": [0, 0],            # length mismatch: kept from the template
        "extra": "default",      # absent from the checkpoint: kept
    }
    got, meta = job.get_tree_and_metadata("ckpt", template, partial=True)
    assert set(got) == set(template) and set(got["model"]) == set(template["model"])
    assert torch.equal(got["model"]["w"], torch.full((3,), 2.0))
    assert got["model"]["b"] is template["model"]["b"]      # shape mismatch: skipped
    assert got["model"]["new"] is template["model"]["new"]
    assert got["step"] == 9 and got["xs"] == [0, 0] and got["extra"] == "default"
    assert "opt" not in got and meta == {"step": 9}


def test_unsupported_values_are_refused_before_any_write(job: Job, tmp_path: Path) -> None:
    with pytest.raises(CheckpointTreeError, match="/a/0"):
        job.save_tree_and_metadata("s", {"a": [object()]}, {})
    with pytest.raises(CheckpointTreeError, match="key"):
        job.save_tree_and_metadata("s", {(1, 2): 3}, {})
    with pytest.raises(CheckpointTreeError, match="metadata"):
        job.save_tree_and_metadata("s", {"a": 1}, {"x": object()})
    assert not (tmp_path / "proj").exists()


def test_missing_and_corrupt_checkpoints(job: Job) -> None:
    with pytest.raises(CheckpointNotFoundError):
        job.get_tree_and_metadata("nope", {})
    with pytest.raises(FileNotFoundError):  # also a FileNotFoundError for generic callers
        job.get_metadata("nope")
    job.save_tree_and_metadata("s", {"a": 1}, {})
    version = next((job.checkpoints_dir / job.rel_path("s")).glob(".v-*"))
    (version / "metadata.json").write_text("{not json")
    with pytest.raises(CheckpointCorruptError):
        job.get_metadata("s")


def test_overwrite_replaces_content_and_collects_old_versions(job: Job) -> None:
    job.save_tree_and_metadata("s", {"a": 1}, {"v": 1})
    job.save_tree_and_metadata("s", {"a": 2}, {"v": 2})
    ckpt = job.checkpoints_dir / job.rel_path("s")
    assert job.get_tree_and_metadata("s", {"a": 0}) == ({"a": 2}, {"v": 2})
    assert len(list(ckpt.glob(".v-*"))) == 1 and not list(ckpt.glob(".tmp-*"))


@pytest.mark.parametrize("fail_at", [1, 2, 3, 4])
def test_failed_write_leaves_previous_checkpoint_intact(job: Job, monkeypatch: pytest.MonkeyPatch,
                                                        fail_at: int) -> None:
    job.save_tree_and_metadata("s", {"a": 1}, {"v": 1})
    real, calls = _jobs_store.write_file, []

    def flaky(path: Path, data: bytes) -> None:
        calls.append(path.name)
        if len(calls) == fail_at:  # the 4th write is the _CURRENT pointer
            path.write_bytes(data[: len(data) // 2])
            raise OSError("disk full")
        real(path, data)

    monkeypatch.setattr(_jobs_store, "write_file", flaky)
    with pytest.raises(OSError, match="disk full"):
        job.save_tree_and_metadata("s", {"a": 2}, {"v": 2})
    monkeypatch.undo()
    assert job.get_tree_and_metadata("s", {"a": 0}) == ({"a": 1}, {"v": 1})
    ckpt = job.checkpoints_dir / job.rel_path("s")
    assert [p.name for p in ckpt.iterdir() if p.name.startswith(".")] == [
        (ckpt / "_CURRENT").read_text()]  # an ordinary error tidies its temp files


def test_failed_first_write_leaves_nothing_restorable(job: Job,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(src: Path, dst: Path) -> None:
        raise OSError("rename failed")

    monkeypatch.setattr(_jobs_store, "rename", boom)
    with pytest.raises(OSError):
        job.save_tree_and_metadata("s", {"a": 1}, {})
    monkeypatch.undo()
    with pytest.raises(CheckpointNotFoundError):
        job.get_metadata("s")


def test_job_json_beside_each_checkpoint(job: Job) -> None:
    job.save_tree_and_metadata("s", {"a": 1}, {})
    version = next((job.checkpoints_dir / job.rel_path("s")).glob(".v-*"))
    doc = json.loads((version / "job.json").read_text())
    assert doc["spec"] == {"project": "proj", "group": "grp", "job_name": "sft",
                           "run_id": "run00001"}
    assert doc["config"] == {"lr": 0.1} and doc["job_class"].endswith("Job")


def test_non_json_config_is_refused(tmp_path: Path) -> None:
    job = Job(ExecutionSpec(project="p", group="g", job_name="j", checkpoints_dir=tmp_path,
                            config={"f": object()}))
    with pytest.raises(JobSpecError):
        job.save_tree_and_metadata("s", {}, {})


def test_execute_runs_once_then_skips(spec: ExecutionSpec) -> None:
    Job.runs = 0
    assert Job(spec).done is False
    assert Job(spec).execute() is True
    assert Job(spec).done is True and Job.runs == 1
    assert Job(spec).execute() is False and Job(spec).main() is False
    assert Job.runs == 1
    other = spec.model_copy(update={"job_name": "other"})
    assert Job(other).done is False


def test_failed_run_is_not_marked_done(spec: ExecutionSpec) -> None:
    class Failing(BasicJob):
        def run(self) -> None:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        Failing(spec).execute()
    assert Failing(spec).done is False


def test_sdk_imports_without_torch() -> None:
    import subprocess
    import sys

    code = ("import sys, tempfile; sys.modules['torch'] = None\n"
            "from drydock.sdk.jobs import CheckpointedJob, ExecutionSpec\n"
            "class J(CheckpointedJob):\n    def run(self): pass\n"
            "j = J(ExecutionSpec(project='p', group='g', job_name='j', "
            "checkpoints_dir=tempfile.mkdtemp()))\n"
            "j.save_tree_and_metadata('s', {'a': [1, 2.5, None]}, {'m': 1})\n"
            "print(j.get_tree_and_metadata('s', {'a': [0, 0, 0]}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "({'a': [1, 2.5, None]}, {'m': 1})"
