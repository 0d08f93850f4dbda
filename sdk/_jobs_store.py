"""Crash-safe files for checkpoints: atomic pointer files and versioned checkpoint directories.

Layout of one checkpoint directory (`checkpoints_dir / rel_path`)::

    <rel_path>/
        _CURRENT          name of the committed version dir; replaced atomically (the commit)
        .v-<token>/       a complete version: tree.json, metadata.json, job.json[, tensors.pt]
        .tmp-<token>/     a write in progress, or the leftovers of a crashed one (never read)

A save writes every file into a fresh `.tmp-` dir, fsyncs them and the dir, renames the dir to
`.v-<token>`, then replaces `_CURRENT` (write tmp + fsync + os.replace + fsync dir). A crash at any
instant leaves either the previous version current or the new one, never a mix, and overwriting a
suffix is as safe as writing a new one. Old versions and stale temp dirs are removed after the
commit; a reader that loses that race re-reads `_CURRENT` and retries.

Every write goes through `write_file` and every rename through `rename`, so tests can inject a
crash at any step by patching those two names on this module. One writer per checkpoint dir.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TypeVar

from ._jobs_errors import (
    CheckpointCorruptError,
    CheckpointNotFoundError,
    InvalidCheckpointPathError,
)

__all__ = [
    "CURRENT",
    "LATEST",
    "DONE",
    "RESERVED_NAMES",
    "write_file",
    "rename",
    "fsync_dir",
    "atomic_write_file",
    "write_checkpoint",
    "read_checkpoint_files",
    "is_committed",
    "list_checkpoints",
    "check_rel_path",
]

CURRENT, LATEST, DONE = "_CURRENT", "_LATEST", "_DONE"
RESERVED_NAMES = frozenset({CURRENT, LATEST, DONE})
_VERSION, _TMP = ".v-", ".tmp-"
_READ_RETRIES = 5

T = TypeVar("T")


def write_file(path: Path, data: bytes) -> None:
    """Create `path` (it must not exist), write `data`, fsync."""
    with open(path, "xb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def rename(src: Path, dst: Path) -> None:
    """Atomic rename (os.replace semantics for files; a dir must land on a fresh name)."""
    os.replace(src, dst)


def fsync_dir(path: Path) -> None:
    """Make a dir's entries (creates, renames) durable; a no-op where dirs cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _token() -> str:
    return uuid.uuid4().hex[:16]


def _mkdirs(path: Path) -> None:
    """mkdir -p, fsyncing each new dir's parent so the new entries survive a power cut."""
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        d.mkdir(exist_ok=True)
        fsync_dir(d.parent)
    if not path.is_dir():
        raise InvalidCheckpointPathError(f"{path} exists and is not a directory")


def atomic_write_file(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically: a reader sees the old or the new bytes, never a
    torn write. On an ordinary error the temp file is removed; after a crash it may remain."""
    _mkdirs(path.parent)
    tmp = path.with_name(f".{path.name}{_TMP}{_token()}")
    try:
        write_file(tmp, data)
        rename(tmp, path)
    except Exception:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_checkpoint(ckpt_dir: Path, files: dict[str, bytes]) -> None:
    """Write `files` as a new committed version of `ckpt_dir` (see the module doc)."""
    _mkdirs(ckpt_dir)
    token = _token()
    tmp, final = ckpt_dir / f"{_TMP}{token}", ckpt_dir / f"{_VERSION}{token}"
    tmp.mkdir()
    try:
        for name, data in files.items():
            write_file(tmp / name, data)
        fsync_dir(tmp)
        rename(tmp, final)
        fsync_dir(ckpt_dir)
        atomic_write_file(ckpt_dir / CURRENT, final.name.encode())
    except Exception:
        # Not a crash: tidy up; `_CURRENT` still names the previous version (or nothing).
        shutil.rmtree(tmp, ignore_errors=True)
        if _current_name(ckpt_dir) != final.name:
            shutil.rmtree(final, ignore_errors=True)
        raise
    _collect(ckpt_dir, keep=final.name)


def _collect(ckpt_dir: Path, keep: str) -> None:
    for entry in ckpt_dir.iterdir():
        name = entry.name
        if name != keep and (name.startswith(_VERSION) or name.startswith(_TMP)):
            shutil.rmtree(entry, ignore_errors=True)
        elif name.startswith(f".{CURRENT}{_TMP}"):
            entry.unlink(missing_ok=True)


def _current_name(ckpt_dir: Path) -> str | None:
    try:
        name = (ckpt_dir / CURRENT).read_text()
    except (FileNotFoundError, NotADirectoryError):
        return None
    if not name.startswith(_VERSION) or "/" in name or "\\" in name:
        raise CheckpointCorruptError(f"{ckpt_dir / CURRENT} holds {name!r:.60}")
    return name


def is_committed(ckpt_dir: Path) -> bool:
    """True when `ckpt_dir` has a committed version on disk."""
    name = _current_name(ckpt_dir)
    return name is not None and (ckpt_dir / name).is_dir()


def read_checkpoint_files(ckpt_dir: Path, read: Callable[[Path], T]) -> T:
    """Call `read(version_dir)` on the committed version; retry if a concurrent save replaced and
    collected it mid-read. Raises CheckpointNotFoundError when nothing is committed."""
    for _ in range(_READ_RETRIES):
        name = _current_name(ckpt_dir)
        if name is None:
            raise CheckpointNotFoundError(f"no complete checkpoint at {ckpt_dir}")
        try:
            return read(ckpt_dir / name)
        except FileNotFoundError:
            if _current_name(ckpt_dir) == name:
                raise CheckpointCorruptError(
                    f"committed checkpoint {ckpt_dir / name} is missing files"
                ) from None
    raise CheckpointCorruptError(f"checkpoint at {ckpt_dir} kept changing while being read")


def list_checkpoints(root: Path) -> list[str]:
    """Posix paths, relative to `root`, of every committed checkpoint dir below it."""
    found = []
    for dirpath, dirnames, _ in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        here = Path(dirpath)
        try:
            committed = here != root and is_committed(here)
        except CheckpointCorruptError:
            committed = False  # a damaged pointer is not a checkpoint one can restore
        if committed:
            found.append(here.relative_to(root).as_posix())
    return found


def check_rel_path(rel_path: str | os.PathLike[str], what: str = "rel_path") -> PurePosixPath:
    """Validate a path meant to live under checkpoints_dir: relative, non-empty, no '..', no part
    that is hidden ('.x') or one of the framework's reserved names."""
    if not isinstance(rel_path, (str, os.PathLike)):
        raise InvalidCheckpointPathError(f"{what} must be a str or Path, got {rel_path!r}")
    raw = os.fspath(rel_path)
    pure = PurePosixPath(raw.replace("\\", "/"))
    if not raw or pure.is_absolute() or raw.startswith("/"):
        raise InvalidCheckpointPathError(f"{what} {raw!r} must be a non-empty relative path")
    parts = [p for p in pure.parts if p != "."]
    if not parts:
        raise InvalidCheckpointPathError(f"{what} {raw!r} names no directory")
    for part in parts:
        if part == ".." or part.startswith(".") or part in RESERVED_NAMES or "\x00" in part:
            raise InvalidCheckpointPathError(
                f"{what} {raw!r}: part {part!r} is not allowed (no '..', hidden names or "
                f"{sorted(RESERVED_NAMES)})"
            )
    return PurePosixPath(*parts)
