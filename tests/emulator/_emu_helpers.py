"""Helpers for the emulator's own tests: the Fireworks wire form, error-body checks."""

from __future__ import annotations

from typing import Any

import httpx

from drydock.emulator import JobSpec

ACCOUNT = "drydock"
Q06 = "accounts/fireworks/models/qwen3-0p6b"
JOBS = f"/v1/accounts/{ACCOUNT}/rlorTrainerJobs"


def job_body(base_model: str = Q06, **training: Any) -> dict[str, Any]:
    """The manual-path create body the real SDK sends (spec 3.3)."""
    tc = {"baseModel": base_model, "loraRank": 0, "learningRate": 1e-05,
          "acceleratorType": "NVIDIA_H100_80GB", "acceleratorCount": 1, **training}
    return {"serviceMode": True, "keepAlive": False, "dataset": "", "trainingConfig": tc,
            "useReservation": True, "nodeCount": 1}


def create(client: httpx.Client, job_id: str, body: dict | None = None,
           query: str = "skipValidations=true") -> httpx.Response:
    return client.post(f"{JOBS}?{query}&rlorTrainerJobId={job_id}", json=body or job_body())


def state(client: httpx.Client, job_id: str) -> str:
    r = client.get(f"{JOBS}/{job_id}")
    assert r.status_code == 200, r.text
    return r.json()["state"]


def assert_error(r: httpx.Response, status: int, grpc_code: int, *needles: str) -> dict:
    """A gRPC-style error body with the right status and a message that names the problem."""
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert body["code"] == grpc_code, body
    assert isinstance(body["message"], str) and body["message"], body
    for needle in needles:
        assert needle in body["message"], (needle, body["message"])
    return body


def spec(accelerators: int = 1, **kw: Any) -> JobSpec:
    """A manual-path spec on the 64-accelerator US H100 pool unless told otherwise."""
    kw.setdefault("accelerator_type", "NVIDIA_H100_80GB")
    return JobSpec(base_model=Q06, accelerator_count=accelerators, **kw)


def kinds(emu_or_cp, prefix: str = "", job: str | None = None) -> list[str]:
    events = emu_or_cp.events
    return [e.kind for e in events if e.kind.startswith(prefix) and (job is None or e.job == job)]
