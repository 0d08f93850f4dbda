"""What jobs leave behind: checkpoint rows per job and the models promoted from them.

Owned by the control plane (which takes the lock and checks the job exists); this module only
keeps the records and their rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import AlreadyExists, FailedPrecondition, NotFound
from .records import CheckpointRecord, ModelRecord
from .shapes import BaseModelEntry, ShapeCatalog

__all__ = ["Artifacts"]


class Artifacts:
    def __init__(
        self, catalog: ShapeCatalog, now: Callable[[], float], log: Callable[..., None]
    ) -> None:
        self.catalog = catalog
        self._now = now
        self._log = log
        self.checkpoints: dict[tuple[str, str], dict[str, CheckpointRecord]] = {}
        self.models: dict[str, ModelRecord] = {}  # promoted models by full name

    def record(
        self,
        account: str,
        job_id: str,
        name: str,
        kind: str,
        promotable: bool,
        location: str | None,
        step: int | None,
    ) -> CheckpointRecord:
        rows = self.checkpoints.setdefault((account, job_id), {})
        now = self._now()
        rows.pop(name, None)  # re-insert: rows stay ordered by createTime
        rec = CheckpointRecord(account, job_id, name, kind, promotable, now, now, location, step)
        rows[name] = rec
        self._log("checkpoint.saved", account, job_id, name=name, type=kind, step=step)
        return rec

    def of_job(self, account: str, job_id: str) -> list[CheckpointRecord]:
        return list(self.checkpoints.get((account, job_id), {}).values())

    def newest_location(self, account: str, job_id: str) -> str | None:
        """Where the newest training checkpoint lives (any checkpoint, if none is)."""
        rows = self.of_job(account, job_id)
        training = [r for r in rows if not r.promotable] or rows
        return (training[-1].location or training[-1].name) if training else None

    def find(self, account: str, checkpoint_id: str, job_id: str | None = None) -> CheckpointRecord:
        for (a, j), rows in self.checkpoints.items():
            if a == account and (job_id is None or j == job_id) and checkpoint_id in rows:
                return rows[checkpoint_id]
        raise NotFound(f"checkpoint {checkpoint_id!r} of account {account!r} not found")

    def resolve_base_model(
        self, name: str, account: str | None = None
    ) -> tuple[BaseModelEntry, ModelRecord | None]:
        try:
            return self.catalog.model(name), None
        except NotFound:
            pass
        rec = self.models.get(name)
        if rec is None or (account is not None and rec.account != account):
            raise NotFound(f"model {name!r} not found")
        return self.catalog.model(rec.base_model), rec

    def promote(
        self,
        account: str,
        checkpoint_id: str,
        output_model_id: str,
        name: str,
        base_model: str,
        job_id: str | None,
        lora_rank_of: Callable[[str], int],
    ) -> ModelRecord:
        ckpt = self.find(account, checkpoint_id, job_id)
        if not ckpt.promotable:
            raise FailedPrecondition(
                f"checkpoint {checkpoint_id} ({ckpt.kind}) is not promotable; promote a "
                "sampler checkpoint (save_weights_for_sampler)"
            )
        if name in self.models:
            raise AlreadyExists(f"model {name} already exists")
        base, _ = self.resolve_base_model(base_model, account)
        lora = lora_rank_of(ckpt.job)
        rec = ModelRecord(
            account,
            output_model_id,
            name,
            base.name,
            "HF_PEFT_ADDON" if lora else "CUSTOM_MODEL",
            "READY",
            self._now(),
            lora_rank=lora,
            source_checkpoint=checkpoint_id,
            source_job=ckpt.job,
            location=ckpt.location,
        )
        self.models[name] = rec
        self._log("model.promoted", account, ckpt.job, model=rec.name, checkpoint=checkpoint_id)
        return rec

    def describe(self) -> dict[str, Any]:
        return {
            "checkpoints": sum(len(r) for r in self.checkpoints.values()),
            "models": len(self.models),
        }
