"""Atomic, crash-safe checkpoint storage for one job's trainer.

Layout of a checkpoint directory:

    manifest.json          the commit point: which checkpoints exist and where
    00000007.9f3a01c2.step-4/  one committed checkpoint: checkpoint.pt (state + meta)
    .tmp-.../              a write in progress (or the debris of a killed one)

A write goes: temp dir -> checkpoint.pt written and fsynced -> temp dir fsynced -> renamed into place
-> parent fsynced -> `manifest.tmp` written, fsynced and `os.replace`d over `manifest.json`
(the commit) -> the replaced/garbage-collected dirs removed. Readers trust only the manifest, so
a kill at any instant leaves the last committed checkpoint loadable and never lists a partial one.
Opening a store for writing removes temp dirs and directories the manifest does not name.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointWriteError, TrainerUserError

__all__ = [
    "CheckpointStore",
    "CheckpointEntry",
    "TRAINING",
    "TRAINING_LORA",
    "INFERENCE_BASE",
    "INFERENCE_LORA",
    "STATE_KINDS",
    "SAMPLER_KINDS",
    "MANIFEST",
    "PAYLOAD",
    "load_payload",
    "set_write_hook",
]

TRAINING, TRAINING_LORA = "TRAINING", "TRAINING_LORA"
INFERENCE_BASE, INFERENCE_LORA = "INFERENCE_BASE", "INFERENCE_LORA"
STATE_KINDS = (TRAINING, TRAINING_LORA)
SAMPLER_KINDS = (INFERENCE_BASE, INFERENCE_LORA)
MANIFEST = "manifest.json"
PAYLOAD = "checkpoint.pt"
_TMP_PREFIX = ".tmp-"

# Test-only: called with a phase name between write steps (the crash test dies at a chosen one).
_write_hook: Callable[[str], None] | None = None


def set_write_hook(hook: Callable[[str], None] | None) -> None:
    """Test-only: call `hook(phase)` between the steps of every checkpoint write."""
    global _write_hook
    _write_hook = hook


def _phase(name: str) -> None:
    if _write_hook is not None:
        _write_hook(name)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file(path: Path, writer: Callable[[Any], None]) -> None:
    with open(path, "wb") as f:
        writer(f)
        f.flush()
        os.fsync(f.fileno())


def load_payload(directory: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint directory's payload (tensors and plain data only: weights_only)."""
    return torch.load(Path(directory) / PAYLOAD, map_location=map_location, weights_only=True)


@dataclass(frozen=True)
class CheckpointEntry:
    """One committed checkpoint as the manifest records it."""

    name: str
    kind: str
    dir: str  # directory name under the store root
    seq: int  # commit order: larger = newer
    meta: dict = field(default_factory=dict)


class CheckpointStore:
    """The checkpoints of one job, in `root`. `writable=False` opens another job's store for
    reading only (no cleanup, no writes)."""

    def __init__(
        self, root: str | Path, *, writable: bool = True, keep_last: int | None = None
    ) -> None:
        if keep_last is not None and keep_last < 1:
            raise ValueError("keep_last must be >= 1 (the newest checkpoint is always kept)")
        self.root = Path(root)
        self.writable = writable
        self.keep_last = keep_last
        self._lock = threading.Lock()
        if writable:
            self.root.mkdir(parents=True, exist_ok=True)
            self._cleanup()

    # ------------------------------------------------------------------ reading
    def _read_manifest(self) -> dict:
        try:
            with open(self.root / MANIFEST, encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            return {"format": 1, "seq": 0, "checkpoints": []}

    def entries(self, kinds: tuple[str, ...] | None = None) -> list[CheckpointEntry]:
        """Committed checkpoints, oldest commit first."""
        rows = [CheckpointEntry(**r) for r in self._read_manifest()["checkpoints"]]
        rows = [r for r in rows if kinds is None or r.kind in kinds]
        return sorted(rows, key=lambda r: r.seq)

    def get(self, name: str, kinds: tuple[str, ...]) -> CheckpointEntry | None:
        for e in self.entries(kinds):
            if e.name == name:
                return e
        return None

    def path_of(self, entry: CheckpointEntry) -> Path:
        return self.root / entry.dir

    def load(self, entry: CheckpointEntry, map_location: str | torch.device = "cpu") -> dict:
        """The checkpoint's payload dict (its "meta" included)."""
        return load_payload(self.path_of(entry), map_location)

    # ------------------------------------------------------------------ writing
    def write(
        self,
        name: str,
        kind: str,
        payload: dict[str, Any],
        meta: dict,
        *,
        fail_midway: bool = False,
    ) -> CheckpointEntry:
        """Write `payload` (torch-saveable dict) plus `meta` (JSON-able, also kept in the
        manifest) as checkpoint `name`, replacing one of the same name and family atomically.
        One payload file, so a save costs one data fsync."""
        if not self.writable:
            raise TrainerUserError(f"checkpoint store {self.root} is read-only")
        family = STATE_KINDS if kind in STATE_KINDS else SAMPLER_KINDS
        with self._lock:
            manifest = self._read_manifest()
            seq = manifest["seq"] + 1
            tmp = self.root / f"{_TMP_PREFIX}{seq:08d}-{secrets.token_hex(4)}"
            tmp.mkdir()
            try:
                self._write_payload(tmp, {**payload, "meta": meta}, fail_midway)
                final = self.root / f"{seq:08d}.{secrets.token_hex(4)}.{name}"
                os.rename(tmp, final)
                _fsync_dir(self.root)
                _phase("renamed")
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            entry = CheckpointEntry(name=name, kind=kind, dir=final.name, seq=seq, meta=meta)
            old = [r for r in manifest["checkpoints"] if r["name"] == name and r["kind"] in family]
            rows = [r for r in manifest["checkpoints"] if r not in old] + [entry.__dict__]
            dropped = old + self._gc(rows)
            rows = [r for r in rows if r not in dropped]
            self._commit({"format": 1, "seq": seq, "checkpoints": rows})
            for r in dropped:
                shutil.rmtree(self.root / r["dir"], ignore_errors=True)
            return entry

    @staticmethod
    def _write_payload(tmp: Path, payload: dict[str, Any], fail_midway: bool) -> None:
        if fail_midway:
            # An injected failure part-way: half of the payload reaches the disk, then an error.
            buf = io.BytesIO()
            torch.save(payload, buf)
            data = buf.getvalue()
            _write_file(tmp / PAYLOAD, lambda f: f.write(data[: len(data) // 2]))
            raise CheckpointWriteError("checkpoint write failed part-way (injected)")
        _write_file(tmp / PAYLOAD, lambda f: torch.save(payload, f))
        _fsync_dir(tmp)
        _phase("wrote")

    def _gc(self, rows: list[dict]) -> list[dict]:
        """Rows to drop under keep_last: oldest save_state checkpoints beyond N (never the newest)."""
        if self.keep_last is None:
            return []
        state = sorted((r for r in rows if r["kind"] in STATE_KINDS), key=lambda r: r["seq"])
        return state[: max(0, len(state) - self.keep_last)]

    def _commit(self, manifest: dict) -> None:
        tmp = self.root / (MANIFEST + ".tmp")
        _write_file(tmp, lambda f: f.write(json.dumps(manifest, indent=1).encode()))
        _phase("manifest-written")
        os.replace(tmp, self.root / MANIFEST)
        _fsync_dir(self.root)
        _phase("committed")

    def _cleanup(self) -> None:
        """Remove debris of interrupted writes: temp dirs, a stray manifest.tmp, and committed-
        looking dirs the manifest does not name (renamed but never committed, or replaced)."""
        live = {r["dir"] for r in self._read_manifest()["checkpoints"]}
        for p in self.root.iterdir():
            if p.name == MANIFEST or p.name in live:
                continue
            if p.is_dir() and (p.name.startswith(_TMP_PREFIX) or p.name[:8].isdigit()):
                shutil.rmtree(p, ignore_errors=True)
            elif p.name == MANIFEST + ".tmp":
                p.unlink(missing_ok=True)
