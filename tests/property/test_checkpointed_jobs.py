"""Property: for any sequence of save / register / crash / restore, restore returns the last
registered complete checkpoint and never a partial one; partial restore loads exactly the
template's leaves.

A crash is simulated at any I/O step of a save or a register (each file write and each rename),
before or after that step, with a half-written file left behind: a `BaseException` that skips
the framework's own tidy-up, as a killed process would.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from drydock.sdk import _jobs_store
from drydock.sdk.jobs import (
    CheckpointNotFoundError,
    CheckpointStructureError,
    ExecutionSpec,
    RestoreableJob,
)

SUFFIXES = st.sampled_from(["step-1", "step-2", "step-10", "best/model"])
KEYS = st.sampled_from(["w", "b", "step", "opt"])
plain = st.one_of(st.none(), st.booleans(), st.integers(-5, 5),
                  st.floats(-2, 2, allow_nan=False, width=32), st.sampled_from(["", "a", "xy"]))
tensors = st.builds(lambda xs, dt: torch.tensor(xs, dtype=dt),
                    st.lists(st.integers(-3, 3), min_size=1, max_size=3),
                    st.sampled_from([torch.float32, torch.int64]))
trees = st.recursive(st.one_of(plain, tensors),
                     lambda kids: st.one_of(st.lists(kids, max_size=3),
                                            st.lists(kids, max_size=2).map(tuple),
                                            st.dictionaries(KEYS, kids, max_size=3)),
                     max_leaves=6)
roots = st.dictionaries(KEYS, trees, min_size=1, max_size=4)


# The property is about crash points, not disk speed: on tmpfs fsync is free, so the many small
# atomic writes of a run cost microseconds instead of milliseconds each.
_FAST_TMP = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


class SimulatedCrash(BaseException):
    """The process died here."""


def _is_tensor(x: Any) -> bool:
    return isinstance(x, torch.Tensor)


def tree_eq(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(tree_eq(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return (type(a) is type(b) and len(a) == len(b)
                and all(tree_eq(x, y) for x, y in zip(a, b, strict=False)))
    if _is_tensor(a):
        return _is_tensor(b) and a.dtype == b.dtype and torch.equal(a, b)
    return type(a) is type(b) and a == b


def expected_partial(template: Any, saved: Any) -> Any:
    """The reference model of partial restore, on plain Python trees."""
    if isinstance(template, dict):
        if not isinstance(saved, dict):
            return template
        return {k: expected_partial(v, saved[k]) if k in saved else v
                for k, v in template.items()}
    if isinstance(template, (list, tuple)):
        if not isinstance(saved, (list, tuple)) or len(saved) != len(template):
            return template
        return type(template)(expected_partial(t, s) for t, s in zip(template, saved, strict=False))
    if _is_tensor(template):
        fits = (_is_tensor(saved) and saved.shape == template.shape
                and saved.dtype == template.dtype)
        return saved if fits else template
    return template if _is_tensor(saved) or isinstance(saved, (dict, list, tuple)) else saved


def strict_fits(template: Any, saved: Any) -> bool:
    """Whether a strict (partial=False) restore must succeed."""
    if isinstance(template, dict):
        return (isinstance(saved, dict) and saved.keys() == template.keys()
                and all(strict_fits(template[k], saved[k]) for k in template))
    if isinstance(template, (list, tuple)):
        return (isinstance(saved, (list, tuple)) and len(saved) == len(template)
                and all(strict_fits(t, s) for t, s in zip(template, saved, strict=False)))
    if _is_tensor(template):
        return (_is_tensor(saved) and saved.shape == template.shape
                and saved.dtype == template.dtype)
    return not (_is_tensor(saved) or isinstance(saved, (dict, list, tuple)))


def zeros_like(tree: Any) -> Any:
    """A template with the saved tree's structure and different leaf values."""
    if isinstance(tree, dict):
        return {k: zeros_like(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(zeros_like(v) for v in tree)
    return torch.zeros_like(tree) if _is_tensor(tree) else "template"


class Job(RestoreableJob):
    def run(self) -> None:
        pass

    def restore_from_path(self, rel_path: str | Path) -> None:
        self.tree = self.get_raw_tree_from_path(rel_path)


class Crasher:
    """Patches the store's write/rename; kills the 'process' at the n-th call (before or after
    it runs). Records whether a rename onto `commit_name` completed before the crash."""

    def __init__(self, at: int, after: bool, commit_name: str) -> None:
        self.at, self.after, self.commit_name = at, after, commit_name
        self.calls, self.crashed, self.committed = 0, False, False
        self.real_write, self.real_rename = _jobs_store.write_file, _jobs_store.rename

    def write(self, path: Path, data: bytes) -> None:
        self.calls += 1
        if self.calls == self.at and not self.after:
            path.write_bytes(data[: len(data) // 2])  # a torn file, as a kill mid-write leaves
            self._crash()
        self.real_write(path, data)
        if self.calls == self.at:
            self._crash()

    def rename(self, src: Path, dst: Path) -> None:
        self.calls += 1
        if self.calls == self.at and not self.after:
            self._crash()
        self.real_rename(src, dst)
        self.committed = self.committed or Path(dst).name == self.commit_name
        if self.calls == self.at:
            self._crash()

    def _crash(self) -> None:
        self.crashed = True
        raise SimulatedCrash

    def __enter__(self) -> Crasher:
        _jobs_store.write_file, _jobs_store.rename = self.write, self.rename
        return self

    def __exit__(self, *exc: object) -> bool:
        _jobs_store.write_file, _jobs_store.rename = self.real_write, self.real_rename
        return isinstance(exc[1], SimulatedCrash)  # swallow only our simulated crash


class CheckpointMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="drydock-prop-", dir=_FAST_TMP))
        self.spec = ExecutionSpec(project="p", group="g", job_name="j",
                                  checkpoints_dir=self.root, run_id="prop0001")
        self.committed: dict[str, Any] = {}   # suffix -> content of its last complete save
        self.registered: str | None = None

    def teardown(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def job(self) -> Job:
        return Job(self.spec)  # a fresh process's view: nothing cached in memory

    @rule(suffix=SUFFIXES, tree=roots)
    def save(self, suffix: str, tree: Any) -> None:
        self.job().save_tree_and_metadata(suffix, tree, {"suffix": suffix})
        self.committed[suffix] = tree

    @rule(suffix=SUFFIXES, tree=roots, at=st.integers(1, 7), after=st.booleans())
    def crash_during_save(self, suffix: str, tree: Any, at: int, after: bool) -> None:
        with Crasher(at, after, _jobs_store.CURRENT) as crash:
            self.job().save_tree_and_metadata(suffix, tree, {"suffix": suffix})
        if not crash.crashed or crash.committed:  # ran to completion, or died after the commit
            self.committed[suffix] = tree

    @rule(suffix=SUFFIXES)
    def register(self, suffix: str) -> None:
        if suffix in self.committed:
            self.job().register(suffix)
            self.registered = suffix
        else:
            try:
                self.job().register(suffix)
            except CheckpointNotFoundError:
                pass
            else:
                raise AssertionError(f"registered {suffix}, which has no complete checkpoint")

    @precondition(lambda self: bool(self.committed))
    @rule(data=st.data(), at=st.integers(1, 2), after=st.booleans())
    def crash_during_register(self, data: st.DataObject, at: int, after: bool) -> None:
        suffix = data.draw(st.sampled_from(sorted(self.committed)))
        with Crasher(at, after, _jobs_store.LATEST) as crash:
            self.job().register(suffix)
        if not crash.crashed or crash.committed:
            self.registered = suffix

    @rule()
    def restore(self) -> None:
        job = self.job()
        assert job.restore_latest() == self.registered
        if self.registered is not None:
            assert tree_eq(job.tree, self.committed[self.registered])

    @rule(suffix=SUFFIXES)
    def read(self, suffix: str) -> None:
        job = self.job()
        if suffix not in self.committed:
            try:
                job.get_metadata(suffix)
            except CheckpointNotFoundError:
                return
            raise AssertionError(f"read {suffix}, which has no complete checkpoint")
        saved = self.committed[suffix]
        tree, meta = job.get_tree_and_metadata(suffix, zeros_like(saved))
        assert tree_eq(tree, saved) and meta == {"suffix": suffix}

    @precondition(lambda self: bool(self.committed))
    @rule(data=st.data(), template=roots, partial=st.booleans())
    def restore_with_template(self, data: st.DataObject, template: Any, partial: bool) -> None:
        suffix = data.draw(st.sampled_from(sorted(self.committed)))
        saved = self.committed[suffix]
        job = self.job()
        if partial:
            got, _ = job.get_tree_and_metadata(suffix, template, partial=True)
            assert tree_eq(got, expected_partial(template, saved))
        elif strict_fits(template, saved):
            got, _ = job.get_tree_and_metadata(suffix, template)
            assert tree_eq(got, saved)
        else:
            try:
                job.get_tree_and_metadata(suffix, template)
            except CheckpointStructureError:
                return
            raise AssertionError("strict restore accepted a mismatched template")

    @invariant()
    def pointer_and_listing_match_the_model(self) -> None:
        assert Job.latest(self.spec) == self.registered
        listed = Job.checkpoints(self.spec)
        assert sorted(listed) == sorted(self.committed)


CheckpointMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=10, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
TestCheckpointMachine = CheckpointMachine.TestCase
