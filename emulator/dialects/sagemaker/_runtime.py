"""`SageMakerRuntime`: the TrainerRuntime behind a RUNNING SageMaker job.

Each phase is an event on the core's clock (Downloading, one optimizer step per `step_s`,
Uploading), and each step is a real step of drydock's trainer engine, run when the clock reaches
it. With a virtual clock the job's progress is therefore tied to the SDK's own (virtual) polling
sleeps and is byte-for-byte reproducible. Checkpoints go to the job's directory and to
`{S3OutputPath}/{job}/checkpoints/step-N/` in S3; the worker's output lines go to CloudWatch.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drydock.emulator.records import NO_RESTART
from drydock.emulator.states import JobState

if TYPE_CHECKING:
    from drydock.emulator.control_plane import ControlPlane, Job

    from ._jobs import TrainingJobRecord
    from ._service import SageMakerService

__all__ = ["SageMakerRuntime", "RunTimings"]

LOG_GROUP = "/aws/sagemaker/TrainingJobs"


@dataclass(frozen=True)
class RunTimings:
    """Virtual seconds each phase of a RUNNING job takes."""

    download_s: float = 10.0
    step_s: float = 5.0
    upload_s: float = 10.0


@dataclass
class _Run:
    job: Job
    events: list[Any] = field(default_factory=list)
    engine: Any = None
    stepper: Any = None
    step: int = 0
    max_steps: int = 0
    save_steps: int = 0
    last_checkpoint: str | None = None
    active: bool = True


class SageMakerRuntime:
    def __init__(self, service: SageMakerService, timings: RunTimings | None = None) -> None:
        self.service = service
        self.timings = timings or RunTimings()
        self.cp: ControlPlane = None  # type: ignore[assignment]  # set by attach(), before any use
        self.runs: dict[str, _Run] = {}

    # ---------------------------------------------------------------- TrainerRuntime
    def attach(self, control_plane: ControlPlane) -> None:
        self.cp = control_plane

    def is_ready(self, job: Job) -> bool:
        run = self.runs.get(job.id)
        return bool(run and run.active)

    def start(self, job: Job) -> None:
        rec = self.service.record_for(job.id)
        if rec is None:
            return
        run = _Run(job)
        self.runs[job.id] = run
        now = self.cp.now()
        if rec.training_start is None:
            rec.training_start = now
        resumed = job.restore_from is not None
        rec.awaiting_restart = False
        rec.enter(
            "Downloading",
            "Downloading the training dataset" + (" and the last checkpoint" if resumed else ""),
            now,
        )
        self._log(
            rec,
            "Downloading input data: "
            + ", ".join(c["ChannelName"] for c in rec.request.get("InputDataConfig", [])),
        )
        self._after(run, self.timings.download_s, lambda: self._begin(run, resumed))

    def stop(self, job: Job, reason: str, graceful: bool = True) -> None:
        run = self.runs.pop(job.id, None)
        if run is None:
            return
        run.active = False
        for ev in run.events:
            ev.cancel()
        rec = self.service.record_for(job.id)
        if rec is None:
            return
        self._log(rec, f"Training stopped: {reason}")
        if job.state == JobState.CANCELLING and run.last_checkpoint:
            self._write_outputs(rec, run)  # a stopped job keeps what it checkpointed

    def close(self) -> None:
        for run in self.runs.values():
            run.active = False
            for ev in run.events:
                ev.cancel()
        self.runs.clear()

    # ---------------------------------------------------------------- phases
    def _after(self, run: _Run, delay: float, fn: Callable[[], Any]) -> None:
        cp = self.cp

        def fire() -> None:
            with cp.lock:
                if run.active:
                    fn()

        run.events.append(cp.clock.schedule(delay, fire, f"sagemaker:{run.job.id}"))

    def _begin(self, run: _Run, resumed: bool) -> None:
        from drydock.trainer.engine import TrainerEngine

        from ._training import make_step, parse_rows

        rec = self.service.record_for(run.job.id)
        assert rec is not None  # a run exists only for a recorded job (start())
        hp = self.service.effective_hyperparameters(rec)
        data = self.service.read_channel(rec, "train")
        if data is None:
            self._fail(run, "ClientError: the train channel's S3 data could not be read")
            return
        try:
            rows = parse_rows(data)
        except ValueError as e:
            self._fail(run, f"ClientError: the training dataset is not JSON Lines: {e}")
            return
        if not rows:
            self._fail(run, "ClientError: the training dataset is empty")
            return
        job = run.job
        ckpt_dir = Path(self.cp.data_dir or ".") / "sagemaker" / job.id / "checkpoints"
        if not resumed and ckpt_dir.exists():
            shutil.rmtree(ckpt_dir)  # a new job (or one after Emulator.reset) starts clean
        assert job.model is not None  # every created job is placed (ControlPlane._place)
        run.engine = TrainerEngine(
            job.model.local,
            lora_rank=int(hp.get("lora_rank", 0) or 0),
            seed=int(hp.get("seed", 0)),
            device="cpu",
            checkpoint_dir=ckpt_dir,
        )
        restored = run.engine.restore_latest() if resumed else None
        run.step = run.engine.step
        run.max_steps = int(hp.get("max_steps", 8)) * max(1, int(hp.get("max_epochs", 1)))
        run.save_steps = max(1, int(hp.get("save_steps", 4)))
        run.last_checkpoint = restored
        reward = self.service.reward_for(rec) if rec.technique in ("RLVR", "RLAIF") else None
        run.stepper = make_step(
            rec.technique, run.engine, rows, hp, reward, seed=int(hp.get("seed", 0)) + run.step
        )
        now = self.cp.now()
        rec.enter(
            "Training",
            "Training in progress"
            + (f" (resumed from checkpoint {restored} at step {run.step})" if restored else ""),
            now,
        )
        if restored:
            self._log(rec, f"Resuming from checkpoint {restored} (step {run.step})")
        self._log(
            rec,
            f"{rec.technique} training: {len(rows)} records, {run.max_steps} steps, "
            f"model {rec.hub_model}",
        )
        self._progress(rec, run)
        self._after(run, self.timings.step_s, lambda: self._step(run))

    def _progress(self, rec: TrainingJobRecord, run: _Run) -> None:
        rec.progress = {
            "CurrentEpoch": 1,
            "CurrentStep": run.step,
            "MaxEpoch": 1,
            "TotalStepCountPerEpoch": run.max_steps,
        }

    def _step(self, run: _Run) -> None:
        rec = self.service.record_for(run.job.id)
        assert rec is not None  # a run exists only for a recorded job (start())
        metrics = run.stepper.run(run.step)
        run.step += 1
        self._progress(rec, run)
        self._log(
            rec,
            f"step {run.step}/{run.max_steps} "
            + " ".join(f"{k}={v:.6f}" for k, v in sorted(metrics.items())),
        )
        self.service.log_metrics(rec, metrics, run.step)
        if run.step % run.save_steps == 0 or run.step == run.max_steps:
            self._checkpoint(rec, run)
        self.cp.on_step(run.job.account, run.job.id, run.step)  # may preempt (stop() runs)
        if not run.active:
            return
        if run.step >= run.max_steps:
            rec.enter("Uploading", "Uploading generated training model", self.cp.now())
            self._write_outputs(rec, run)
            self._after(run, self.timings.upload_s, lambda: self._finish(run))
        else:
            self._after(run, self.timings.step_s, lambda: self._step(run))

    def _checkpoint(self, rec: TrainingJobRecord, run: _Run) -> None:
        name = f"step-{run.step}"
        saved = run.engine.save_state(name, data_position={"step": run.step})
        run.last_checkpoint = name
        prefix = f"{rec.output_path()}/{rec.name}/checkpoints/{name}"
        for f in sorted(Path(saved.path).rglob("*")):
            if f.is_file():
                self.service.store.put(f"{prefix}/{f.relative_to(saved.path)}", f.read_bytes())
        # The S3 prefix as its location: what the next start restores, and deterministic.
        self.cp.record_checkpoint(
            run.job.account,
            run.job.id,
            name,
            "TRAINING",
            False,
            location=f"{prefix}/",
            step=run.step,
        )
        self._log(rec, f"Saved checkpoint {name} to {prefix}/")

    def _write_outputs(self, rec: TrainingJobRecord, run: _Run) -> None:
        """model.tar.gz (the newest weights) and output.tar.gz holding manifest.json."""
        base = f"{rec.output_path()}/{rec.name}"
        name = run.last_checkpoint or f"step-{run.step}"
        store = run.engine.store if run.engine else None
        entry = next((e for e in store.entries() if e.name == name), None) if store else None
        model_tar = io.BytesIO()
        with tarfile.open(fileobj=model_tar, mode="w:gz") as tar:
            if entry is not None:
                assert store is not None  # an entry comes from a store
                tar.add(str(store.path_of(entry)), arcname="checkpoint")
            meta = json.dumps(
                {
                    "job": rec.name,
                    "technique": rec.technique,
                    "step": run.step,
                    "base_model": rec.hub_model,
                }
            ).encode()
            info = tarfile.TarInfo("drydock_model.json")
            info.size = len(meta)
            tar.addfile(info, io.BytesIO(meta))
        self.service.store.put(f"{base}/output/model.tar.gz", model_tar.getvalue())
        manifest = json.dumps(
            {"checkpoint_s3_bucket": f"{base}/checkpoints/{name}", "step": run.step}
        ).encode()
        out_tar = io.BytesIO()
        with tarfile.open(fileobj=out_tar, mode="w:gz") as tar:
            info = tarfile.TarInfo("manifest.json")
            info.size = len(manifest)
            tar.addfile(info, io.BytesIO(manifest))
        self.service.store.put(f"{base}/output/output.tar.gz", out_tar.getvalue())
        rec.model_artifacts = f"{base}/output/model.tar.gz"

    def _finish(self, run: _Run) -> None:
        rec = self.service.record_for(run.job.id)
        assert rec is not None  # a run exists only for a recorded job (start())
        self._log(rec, "Training completed")
        self.service.on_completed(rec)
        self.cp.complete_job(run.job.account, run.job.id, "training finished")

    def _fail(self, run: _Run, reason: str) -> None:
        rec = self.service.record_for(run.job.id)
        assert rec is not None  # a run exists only for a recorded job (start())
        rec.failure_reason = reason
        self._log(rec, reason)
        run.job.restart = NO_RESTART  # a client error fails the job; restarting would not help
        self.cp.crash_trainer(run.job.account, run.job.id, reason=reason)

    def _log(self, rec: TrainingJobRecord, message: str) -> None:
        self.service.log_line(rec, message)
