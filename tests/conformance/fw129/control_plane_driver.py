"""Drive fireworks-ai 1.2.9's TrainerJobManager against a drydock server, in the server's
virtual time (run with .venv-fw129's python; the pytest side owns the server).

    python control_plane_driver.py <base_url> <scenario> [<scenario> ...]

Like real programs pinned to 1.2.9, it reads FIREWORKS_API_KEY itself and passes it in.
Prints one line `DRYDOCK_RESULT <json>`: {scenario: {...observations...} or {"error": "..."}}.
The server is expected to preempt jobs `fw129-reconnect` and `fw129-resume` 60 virtual s after
they first run.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback

from freezegun import api as _fg

from drydock.testing import remote_virtual_time
from fireworks.training.sdk.trainer import TrainerJobConfig, TrainerJobManager

BASE_MODEL = "accounts/fireworks/models/qwen3-8b"
SHAPE = "accounts/fireworks/trainingShapes/qwen3-8b-128k-h200"
_REAL_PERF = (_fg.real_perf_counter,)


def _config(job_id: str, **kw) -> TrainerJobConfig:
    return TrainerJobConfig(base_model=BASE_MODEL, requested_job_id=job_id, **kw)


def create_and_wait(mgr: TrainerJobManager) -> dict:
    ep = mgr.create_and_wait(_config("fw129-wait"), poll_interval_s=5, timeout_s=900)
    return {"job_id": ep.job_id, "base_url": ep.base_url,
            "max_context_length": ep.max_context_length, "boot_time_s": mgr.boot_time_s}


def get(mgr: TrainerJobManager) -> dict:
    if mgr.try_get("fw129-wait") is None:
        mgr.create_and_wait(_config("fw129-wait"))
    job = mgr.get("fw129-wait")
    out = {"state": job["state"], "name": job["name"],
           "missing": mgr.try_get("fw129-missing")}
    try:
        mgr.get("fw129-missing")
    except RuntimeError as exc:
        out["missing_error"] = str(exc).splitlines()[0]
    return out


def _preempted(mgr: TrainerJobManager, job_id: str) -> dict:
    mgr.create_and_wait(_config(job_id))
    time.sleep(120)  # virtual (remote_virtual_time): the server's clock moves, its preemption fault fires
    job = mgr.get(job_id)
    return {"after_preempt": job["state"], "status": job.get("status", {})}


def reconnect(mgr: TrainerJobManager) -> dict:
    out = _preempted(mgr, "fw129-reconnect")
    ep = mgr.reconnect_and_wait("fw129-reconnect")
    out.update(job_id=ep.job_id, final=mgr.get("fw129-reconnect")["state"])
    return out


def resume(mgr: TrainerJobManager) -> dict:
    out = _preempted(mgr, "fw129-resume")
    ep = mgr.resume_and_wait("fw129-resume")
    out.update(job_id=ep.job_id, final=mgr.get("fw129-resume")["state"])
    return out


def delete(mgr: TrainerJobManager) -> dict:
    cfg = _config("fw129-delete")
    mgr.create_and_wait(cfg)
    mgr.delete("fw129-delete")
    out = {"after_delete": mgr.get("fw129-delete")["state"]}
    time.sleep(10)  # virtual (remote_virtual_time): the deletion finishes meanwhile
    out["later"] = mgr.get("fw129-delete")["state"]
    try:
        mgr.create(cfg)
        out["recreate_error"] = None
    except RuntimeError as exc:
        out["recreate_error"] = str(exc).splitlines()[0]
    return out


def shape(mgr: TrainerJobManager) -> dict:
    profile = mgr.resolve_training_profile(SHAPE)
    created = mgr.create(TrainerJobConfig(base_model=BASE_MODEL, requested_job_id="fw129-shape",
                                          training_shape_ref=profile.training_shape_version))
    return {"job_id": created.job_id, "training_shape_version": profile.training_shape_version,
            "wire_training_shape": mgr.get(created.job_id)["trainingConfig"].get("trainingShape")}


SCENARIOS = {f.__name__: f for f in (create_and_wait, get, reconnect, resume, delete, shape)}


def main(argv: list[str]) -> int:
    if len(argv) < 3 or any(s not in SCENARIOS for s in argv[2:]):
        print(f"usage: {argv[0]} <base_url> <scenario>... (scenarios: {', '.join(SCENARIOS)})",
              file=sys.stderr)
        return 2
    base_url = argv[1]
    mgr = TrainerJobManager(api_key=os.environ["FIREWORKS_API_KEY"], base_url=base_url)
    results: dict = {}
    with remote_virtual_time(base_url, admin_token=os.environ.get("DRYDOCK_ADMIN_TOKEN")) as vt:
        for name in argv[2:]:
            v0, w0 = vt.elapsed(), _REAL_PERF[0]()
            try:
                res = SCENARIOS[name](mgr)
            except Exception as exc:  # report it; the test asserts on it
                res = {"error": f"{type(exc).__name__}: {exc}",
                       "traceback": traceback.format_exc()}
            res["virtual_s"] = vt.elapsed() - v0
            res["wall_s"] = _REAL_PERF[0]() - w0
            results[name] = res
    mgr.close()
    print("DRYDOCK_RESULT " + json.dumps(results, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
