"""Checkpointed jobs: BasicJob (run once), CheckpointedJob (save/load trees), RestoreableJob
(restore, `latest` pointer, resume from a checkpoint, checkpoint on SIGTERM).

Checkpoint paths are `checkpoints_dir / rel_path`, where `checkpoints_dir` comes from the cluster
config (`ExecutionSpec.checkpoints_dir`) and a job's own rel_path is
`project/group/job_name/<suffix>`. The `*_from_path` methods take any rel_path (e.g. another
job's checkpoint); the suffix methods are thin wrappers. Every write is atomic (see
`_jobs_store`): a reader never sees a half-written checkpoint, and the `latest` pointer only
moves to a complete one, by an atomic replace.

torch is imported lazily, only for trees that hold tensors.
"""

from __future__ import annotations

import abc
import json
import re
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path, PurePath, PurePosixPath
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ValidationError
from typing_extensions import Self

from . import _jobs_store as store
from ._jobs_errors import (
    CheckpointCorruptError,
    CheckpointedJobError,
    CheckpointError,
    CheckpointNotFoundError,
    CheckpointStructureError,
    CheckpointTreeError,
    InvalidCheckpointPathError,
    JobSpecError,
    SigtermGuardError,
)
from ._jobs_sigterm import (
    GRACE_EXPIRED_EXIT_CODE,
    PREEMPTED_EXIT_CODE,
    SAVE_FAILED_EXIT_CODE,
    SigtermGuard,
)
from ._jobs_spec import LAUNCH_FIELDS, ExecutionSpec, config_to_json, new_run_id
from ._jobs_tree import (
    decode_tensors,
    decode_tree,
    dumps,
    encode_tensors,
    encode_tree,
    restore_tree,
)

__all__ = [
    "ExecutionSpec",
    "new_run_id",
    "BasicJob",
    "CheckpointedJob",
    "RestoreableJob",
    "SigtermGuard",
    "PREEMPTED_EXIT_CODE",
    "GRACE_EXPIRED_EXIT_CODE",
    "SAVE_FAILED_EXIT_CODE",
    "CheckpointedJobError",
    "JobSpecError",
    "CheckpointError",
    "CheckpointNotFoundError",
    "CheckpointStructureError",
    "CheckpointTreeError",
    "CheckpointCorruptError",
    "InvalidCheckpointPathError",
    "SigtermGuardError",
]

C = TypeVar("C")

TREE_FILE, TENSORS_FILE, METADATA_FILE, JOB_FILE = (
    "tree.json",
    "tensors.pt",
    "metadata.json",
    "job.json",
)
_FORMAT = 1


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointCorruptError(f"{path} is not valid JSON: {exc}") from None


class BasicJob(abc.ABC, Generic[C]):
    """A job that runs once: `execute()` skips it when a previous run already completed."""

    def __init__(self, spec: ExecutionSpec) -> None:
        if not isinstance(spec, ExecutionSpec):
            raise JobSpecError(f"spec must be an ExecutionSpec, got {type(spec).__name__}")
        self.spec = spec

    @property
    def config(self) -> C:
        return self.spec.config

    @property
    def job_dir(self) -> Path:
        """checkpoints_dir / project / group / job_name (absolute)."""
        return self.spec.job_dir

    @property
    def done(self) -> bool:
        """Check if job is already complete (idempotency check)."""
        return (self.job_dir / store.DONE).is_file()

    def mark_done(self) -> None:
        """Persist the done marker (atomically) so later launches of this job skip it."""
        store.atomic_write_file(self.job_dir / store.DONE, dumps({"run_id": self.spec.run_id}))

    @abc.abstractmethod
    def run(self) -> None:
        """Run the job, assuming all hosts have setup."""

    def execute(self) -> bool:
        """Run the job unless it is already done; mark it done when `run()` returns.
        Returns True if it ran, False if it was skipped. An exception (or SystemExit on
        preemption) from `run()` leaves it not done."""
        if self.done:
            return False
        self.run()
        self.mark_done()
        return True

    main = execute


class CheckpointedJob(BasicJob[C], Generic[C]):
    """Job with checkpoint save/load support (trees of tensors and plain values + metadata)."""

    @property
    def checkpoints_dir(self) -> Path:
        return Path(self.spec.checkpoints_dir).absolute()

    def rel_path(self, suffix: str | Path) -> PurePosixPath:
        """This job's rel_path for `suffix`: project/group/job_name/suffix."""
        checked = store.check_rel_path(suffix, "suffix")
        return PurePosixPath(self.spec.job_rel_path.as_posix()) / checked

    def resolve(self, rel_path: str | PurePath) -> Path:
        """checkpoints_dir / rel_path, after checking rel_path stays inside it."""
        return self.checkpoints_dir / store.check_rel_path(rel_path)

    @staticmethod
    def _get_checkpoint_path(spec: ExecutionSpec, suffix: str | Path) -> Path:
        """Legacy helper: the absolute checkpoint dir of `spec`'s job for `suffix`."""
        return spec.job_dir / store.check_rel_path(suffix, "suffix")

    def _job_json(self) -> bytes:
        return dumps(
            {
                "format": _FORMAT,
                "job_class": f"{type(self).__module__}.{type(self).__qualname__}",
                "spec": self.spec.identity(),
                "config": config_to_json(self.spec.config),
            }
        )

    def save_tree_and_metadata_from_path(
        self, rel_path: str | PurePath, tree: Any, metadata: Mapping[str, Any]
    ) -> None:
        """Save tree and metadata to rel_path under checkpoints_dir (atomically, with a
        job.json of this job's spec and config beside them)."""
        ckpt_dir = self.resolve(rel_path)
        if not isinstance(metadata, Mapping):
            raise CheckpointTreeError(f"metadata must be a mapping, got {type(metadata).__name__}")
        node, tensors = encode_tree(tree)
        try:
            meta_bytes = dumps(dict(metadata))
        except (TypeError, ValueError) as exc:
            raise CheckpointTreeError(f"metadata is not JSON-able: {exc}") from None
        files = {
            TREE_FILE: dumps({"format": _FORMAT, "tree": node}),
            METADATA_FILE: meta_bytes,
            JOB_FILE: self._job_json(),
        }
        if tensors:
            files[TENSORS_FILE] = encode_tensors(tensors)
        store.write_checkpoint(ckpt_dir, files)

    def save_tree_and_metadata(
        self, suffix: str | Path, tree: Any, metadata: Mapping[str, Any]
    ) -> None:
        """Save to this job's own checkpoint. Wrapper for backwards compat."""
        self.save_tree_and_metadata_from_path(self.rel_path(suffix), tree, metadata)

    def get_tree_and_metadata_from_path(
        self, rel_path: str | PurePath, template_tree: Any, partial: bool = False
    ) -> tuple[Any, dict[str, Any]]:
        """Load tree and metadata from rel_path under checkpoints_dir, shaped by template_tree.

        partial=False: the saved tree must match the template exactly (CheckpointStructureError
        otherwise). partial=True: only the template's leaves are restored; saved subtrees the
        template lacks (e.g. optimizer state) are skipped, and template leaves that are missing
        or mismatched in the checkpoint keep the template's value.
        """
        ckpt_dir = self.resolve(rel_path)

        def read(version: Path) -> tuple[Any, dict[str, Any]]:
            doc = _load_json(version / TREE_FILE)
            if not isinstance(doc, dict) or "tree" not in doc:
                raise CheckpointCorruptError(f"{version / TREE_FILE} has no tree")
            blob: list[Any] = []

            def tensors() -> list[Any]:  # read the tensor blob only if a tensor is restored
                if not blob:
                    blob.append(decode_tensors((version / TENSORS_FILE).read_bytes()))
                return blob[0]

            tree = restore_tree(template_tree, doc["tree"], tensors, partial)
            return tree, _load_json(version / METADATA_FILE)

        return store.read_checkpoint_files(ckpt_dir, read)

    def get_tree_and_metadata(
        self, suffix: str | Path, template_tree: Any, partial: bool = False
    ) -> tuple[Any, dict[str, Any]]:
        """Load from this job's own checkpoint. Wrapper for backwards compat."""
        return self.get_tree_and_metadata_from_path(self.rel_path(suffix), template_tree, partial)

    def get_raw_tree_from_path(self, rel_path: str | PurePath) -> Any:
        """The whole saved tree, as saved, without a template (for inspection and tools)."""

        def read(version: Path) -> Any:
            doc = _load_json(version / TREE_FILE)
            return decode_tree(
                doc["tree"], lambda: decode_tensors((version / TENSORS_FILE).read_bytes())
            )

        return store.read_checkpoint_files(self.resolve(rel_path), read)

    def get_metadata_from_path(self, rel_path: str | PurePath) -> dict[str, Any]:
        """Load metadata only from rel_path under checkpoints_dir."""
        return store.read_checkpoint_files(
            self.resolve(rel_path), lambda v: _load_json(v / METADATA_FILE)
        )

    def get_metadata(self, suffix: str | Path) -> dict[str, Any]:
        """Load metadata only from this job's own checkpoint. Wrapper for backwards compat."""
        return self.get_metadata_from_path(self.rel_path(suffix))


def _natural_key(text: str) -> list[Any]:
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", text)]


def _overlay(base: Any, top: Any) -> Any:
    """Deep-merge `top` onto `base`: mappings merge key by key, anything else replaces."""
    if isinstance(top, BaseModel):
        top = top.model_dump(mode="json", exclude_unset=True)
    if isinstance(base, Mapping) and isinstance(top, Mapping):
        merged = dict(base)
        for key, value in top.items():
            merged[key] = _overlay(base[key], value) if key in base else value
        return merged
    return top


class RestoreableJob(CheckpointedJob[C], Generic[C]):
    """A checkpointed job that can restore itself and be resumed from a checkpoint.

    Subclasses implement `restore_from_path`. Set `config_model` to a pydantic model class to
    have `from_checkpoint_path` return (and put in the spec) a validated config object.
    """

    config_model: ClassVar[type[BaseModel] | None] = None

    @abc.abstractmethod
    def restore_from_path(self, rel_path: str | PurePath) -> None:
        """Restore job state from rel_path under checkpoints_dir."""

    def restore(self, suffix: str | Path) -> None:
        """Restore from this job's own checkpoint. Wrapper for backwards compat."""
        self.restore_from_path(self.rel_path(suffix))

    def register(self, suffix: str | Path) -> None:
        """Register this checkpoint as the latest, for idempotent restore. The checkpoint must
        be complete (CheckpointNotFoundError otherwise); the pointer is replaced atomically."""
        rel = self.rel_path(suffix)
        if not store.is_committed(self.checkpoints_dir / rel):
            raise CheckpointNotFoundError(f"cannot register {rel}: no complete checkpoint there")
        suffix_str = rel.relative_to(self.spec.job_rel_path.as_posix()).as_posix()
        store.atomic_write_file(self.job_dir / store.LATEST, dumps({"suffix": suffix_str}))

    @classmethod
    def latest(cls, spec: ExecutionSpec) -> str | None:
        """Get the latest registered checkpoint suffix, or None if none was registered."""
        path = spec.job_dir / store.LATEST
        try:
            doc = _load_json(path)
        except FileNotFoundError:
            return None
        if not isinstance(doc, dict) or not isinstance(doc.get("suffix"), str):
            raise CheckpointCorruptError(f"{path} holds no suffix")
        return doc["suffix"]

    @classmethod
    def checkpoints(cls, spec: ExecutionSpec) -> list[str]:
        """Given the execution spec, list available (complete) checkpoint suffixes, in natural
        order (step-2 before step-10)."""
        if not spec.job_dir.is_dir():
            return []
        return sorted(store.list_checkpoints(spec.job_dir), key=_natural_key)

    def restore_latest(self) -> str | None:
        """Restore the registered latest checkpoint if there is one; returns its suffix."""
        suffix = self.latest(self.spec)
        if suffix is not None:
            self.restore(suffix)
        return suffix

    @classmethod
    def from_checkpoint_path(
        cls,
        rel_path: str | PurePath,
        spec: ExecutionSpec,
        runtime_cfg: Any | None = None,
        resume: bool = False,
    ) -> tuple[Self, Any]:
        """Load and instantiate a checkpointed job from rel_path under spec.checkpoints_dir.

        The config is the checkpoint's saved config with `runtime_cfg` deep-merged on top.
        resume=True: an idempotent resume of the same job; every saved identity field of the
        spec (project, group, job_name, run_id, ...) comes from the checkpoint's job.json.
        resume=False: the caller's spec identity is kept (loading another job's weights).
        `checkpoints_dir` is always the caller's. Returns (restored job, config).
        """
        ckpt_dir = Path(spec.checkpoints_dir).absolute() / store.check_rel_path(rel_path)
        saved = store.read_checkpoint_files(ckpt_dir, lambda v: _load_json(v / JOB_FILE))
        if not isinstance(saved, dict) or not isinstance(saved.get("spec"), dict):
            raise CheckpointCorruptError(f"{ckpt_dir} job.json holds no spec")
        config = _overlay(saved.get("config"), runtime_cfg)
        if cls.config_model is not None:
            try:
                config = cls.config_model.model_validate(config)
            except ValidationError as exc:
                raise JobSpecError(
                    f"checkpoint config does not fit {cls.config_model.__name__}: {exc}"
                ) from None
        if resume:
            fields = {
                k: v
                for k, v in saved["spec"].items()
                if k in type(spec).model_fields and k not in LAUNCH_FIELDS
            }
            try:
                new_spec = type(spec).model_validate(
                    {**spec.model_dump(), **fields, "config": config}
                )
            except ValidationError as exc:
                raise CheckpointCorruptError(
                    f"{ckpt_dir} job.json spec is invalid: {exc}"
                ) from None
        else:
            new_spec = spec.model_copy(update={"config": config})
        job = cls(new_spec)
        job.restore_from_path(rel_path)
        return job, config

    @classmethod
    def from_checkpoint(
        cls,
        suffix: str | Path,
        spec: ExecutionSpec,
        runtime_cfg: Any | None = None,
        resume: bool = False,
    ) -> tuple[Self, Any]:
        """Load from `spec`'s own job checkpoint. Wrapper for backwards compat."""
        rel = PurePosixPath(spec.job_rel_path.as_posix()) / store.check_rel_path(suffix, "suffix")
        return cls.from_checkpoint_path(rel, spec, runtime_cfg=runtime_cfg, resume=resume)

    def checkpoint_on_sigterm(
        self,
        save: Callable[[], str | Path],
        *,
        grace_s: float = 30.0,
        exit_code: int = PREEMPTED_EXIT_CODE,
        defer: bool = False,
    ) -> AbstractContextManager[SigtermGuard]:
        """Context manager: on SIGTERM, call `save()` (which writes a checkpoint and returns its
        suffix), `register` that suffix, and exit with `exit_code`, all within `grace_s`
        seconds (else the process ends with GRACE_EXPIRED_EXIT_CODE, the previous checkpoint
        intact). With defer=True the save happens at the loop's next `guard.poll()`. Must be
        entered in the main thread."""

        def checkpoint() -> None:
            self.register(save())

        return SigtermGuard(checkpoint, grace_s=grace_s, exit_code=exit_code, defer=defer)
