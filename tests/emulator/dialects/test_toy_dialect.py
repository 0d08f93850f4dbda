"""The core seam: a dialect defined only in tests gets jobs, capacity queueing, preemption with
a restart policy, HTTP faults by route name, its own error format, events and byte-identical
logs, with no change to the core."""

from __future__ import annotations

from toy_dialect import ToyDialect

from drydock.emulator import Emulator, FaultPlan, HttpFault, Preempt

AUTH = {"authorization": "Key drydock-local-key"}


def run(seed: int) -> tuple[Emulator, list]:
    emu = Emulator(seed=seed, dialects=[ToyDialect()])
    seen = []
    with emu.client(headers=AUTH) as c:
        seen.append(c.post("/toy/runs", json={"name": "a", "chips": 2, "owner": "ann"}).json())
        seen.append(c.post("/toy/runs", json={"name": "b", "chips": 1}).json())  # queues: pool of 2
        emu.advance(30)
        seen.append([c.get(f"/toy/runs/{n}").json()["phase"] for n in "ab"])
        emu.inject(FaultPlan.of(Preempt(job="a", at_s=40)))
        emu.advance(10)   # a fails; its policy restarts it, behind b in the queue
        seen.append([c.get(f"/toy/runs/{n}").json()["phase"] for n in "ab"])
    return emu, seen


def test_toy_dialect_gets_jobs_queueing_and_a_restart_policy() -> None:
    emu, seen = run(seed=3)
    assert seen[0] == {"run": "a", "phase": "creating", "owner": "ann", "restarts": 0}
    assert seen[1]["phase"] == "pending"
    assert seen[2] == ["running", "pending"]
    assert seen[3] == ["pending", "creating"]       # b took the freed capacity first (FIFO)
    job = emu.control_plane.get_job("drydock", "a", "toy")
    assert (job.restarts, job.dialect) == (1, "toy")
    kinds = [e.kind for e in emu.events if e.job == "a"]
    assert kinds.count("job.restart") == 1 and "fault.preempt" in kinds


def test_toy_dialect_errors_and_http_faults_are_its_own() -> None:
    emu = Emulator(dialects=[ToyDialect()])
    assert emu.route_names() == ["toy.runs.create", "toy.runs.get"]
    with emu.client(headers=AUTH) as c:
        r = c.get("/toy/runs/nope")
        assert r.status_code == 404
        assert r.json() == {"error": {"status": 404, "reason": "job runs/nope not found"}}
        assert c.get("/toy/runs/x", headers={"authorization": "Key bad"}).status_code == 401
        emu.inject(FaultPlan.of(HttpFault(route="toy.runs.get", status=429, retry_after_s=3)))
        r = c.get("/toy/runs/x")
        assert (r.status_code, r.headers["retry-after"]) == (429, "3")
        assert r.json()["error"]["reason"] == "injected fault: HTTP 429"
        assert c.get("/v1/accounts").status_code == 404  # no Fireworks routes on this emulator
    assert [e.detail["route"] for e in emu.events.filter("fault.http")] == ["toy.runs.get"]


def test_toy_dialect_logs_are_byte_identical_for_one_seed() -> None:
    first, second = run(seed=11)[0].events.to_jsonl(), run(seed=11)[0].events.to_jsonl()
    assert first == second and "job.restart" in first
