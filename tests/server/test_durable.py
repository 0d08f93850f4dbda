"""Durable state: `drydock serve --data-dir` killed with SIGKILL in the middle of a load of
creates and deletes, restarted on the same dir, has every acknowledged job in its acknowledged
state, and leaves no orphaned trainer worker."""

from __future__ import annotations

import threading

import httpx
import pytest
from _server_helpers import Served, alive, children, job_body, jobs_url, wait_until

from drydock.emulator import Emulator

J = jobs_url()
ADMIN = {"X-Drydock-Admin-Token": "t0k", "X-Api-Key": "drydock-local-key"}


def serve(data_dir) -> Served:
    return Served("--data-dir", str(data_dir), "--admin-token", "t0k", "--speed", "1")


def list_all(http: httpx.Client) -> dict[str, str]:
    out, token = {}, ""
    while True:
        page = http.get(J, params={"pageSize": 1000, **({"pageToken": token} if token else {})},
                        headers=ADMIN).json()
        out.update({j["name"].rsplit("/", 1)[1]: j["state"] for j in page["rlorTrainerJobs"]})
        token = page.get("nextPageToken")
        if not token:
            return out


def test_sigkill_mid_load_loses_nothing_acknowledged_and_leaves_no_orphan(tmp_path) -> None:
    first = serve(tmp_path)
    pid = first.proc.pid
    assert first.lines.get("account") == "drydock"
    assert first.read_line("data dir: ") == f"data dir: {tmp_path} (0 jobs restored)"
    # The torch runtime keeps a booted spare worker process: the orphan to watch for.
    wait_until(lambda: children(pid), 120, "the server's spare trainer worker")
    workers = children(pid)

    created: dict[str, str] = {}  # job -> state its create was acknowledged with
    deleted: set[str] = set()
    delete_sent: set[str] = set()  # a delete in flight at the kill may be durable, unanswered
    lock, enough = threading.Lock(), threading.Event()

    def client(n: int) -> None:
        with httpx.Client(base_url=first.url, headers=ADMIN, timeout=10) as http:
            for i in range(10_000):
                job = f"c{n}-{i}"
                try:
                    r = http.post(f"{J}?skipValidations=true&rlorTrainerJobId={job}",
                                  json=job_body())
                    if r.status_code == 200:
                        with lock:
                            created[job] = r.json()["state"]
                    if i % 3 == 0:
                        with lock:
                            delete_sent.add(job)
                        if http.delete(f"{J}/{job}").status_code == 200:
                            with lock:
                                deleted.add(job)
                except httpx.TransportError:
                    return  # the server is gone
                if len(created) >= 150:
                    enough.set()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    enough.wait(120)
    first.kill()  # SIGKILL, requests in flight
    for t in threads:
        t.join(30)
    # Workers never outlive their server.
    wait_until(lambda: not any(alive(w) for w in workers), 3, "the orphaned workers to exit")

    second = serve(tmp_path)
    wait_until(lambda: children(second.proc.pid), 120, "the new server's spare worker")
    second_workers = children(second.proc.pid)
    try:
        restored = second.read_line("data dir: ")
        assert restored.startswith(f"data dir: {tmp_path} (")
        with httpx.Client(base_url=second.url, timeout=30) as http:
            states = list_all(http)
            for job, acked in created.items():
                assert job in states, f"acknowledged job {job} lost"
                gone = ("JOB_STATE_DELETING", "JOB_STATE_DELETED")
                # provisioning takes 30 s: still where its create left it, unless deleted
                kept = (acked, "JOB_STATE_CREATING")
                if job in deleted:
                    assert states[job] in gone, job
                elif job in delete_sent:  # its delete's answer was lost: either is true
                    assert states[job] in kept + gone, (job, acked, states[job])
                else:
                    assert states[job] in kept, (job, acked, states[job])
            events = http.get("/_drydock/events", headers=ADMIN).text
            assert events.count('"kind":"job.created"') >= len(created)
            assert '"kind":"server.restored"' in events
    finally:
        assert second.stop() == 0
    wait_until(lambda: not any(alive(w) for w in second_workers), 10, "workers to stop")
    assert len(created) >= 150 and deleted


def test_a_running_job_comes_back_failed_as_a_node_failure_leaves_it(tmp_path) -> None:
    emu = Emulator(data_dir=tmp_path, durable=True)
    with emu.client() as c:
        for job in ("run", "gone"):
            c.post(f"{J}?skipValidations=true&rlorTrainerJobId={job}", json=job_body())
        c.post("/_drydock/clock/advance", json={"seconds": 31})
        c.delete(f"{J}/gone")
        c.post("/_drydock/faults", json={"faults": [{"kind": "preempt", "job": "run",
                                                     "at_s": 500}]})
        before = c.get("/_drydock/events").text
    # No close(): the process "dies" here; a second emulator opens the same dir.
    again = Emulator(data_dir=tmp_path, durable=True)
    try:
        with again.client() as c:
            assert again.restored == 2
            run = c.get(f"{J}/run").json()
            assert run["state"] == "JOB_STATE_FAILED"
            assert run["status"] == {"code": "INTERNAL", "message":
                                     "node 0 failed: the emulator restarted under the job"}
            assert c.get(f"{J}/gone").json()["state"] == "JOB_STATE_DELETING"
            after = c.get("/_drydock/events").text
            assert after.startswith(before)  # the log goes on where it stopped
            assert '"kind":"fault.node_failure"' in after[len(before):]
            assert c.get("/_drydock/clock").json()["elapsed"] == 31
            c.post("/_drydock/clock/advance", json={"seconds": 5})
            assert c.get(f"{J}/gone").json()["state"] == "JOB_STATE_DELETED"  # timer re-made
            assert len(again.control_plane.faults) == 1  # armed faults kept
            c.post(f"{J}/run:resume")
            assert c.get(f"{J}/run").json()["state"] == "JOB_STATE_CREATING"
    finally:
        again.close()
        emu.close()


def test_the_in_process_emulator_stays_in_memory(tmp_path) -> None:
    with Emulator(data_dir=tmp_path) as emu, emu.client() as c:
        c.post(f"{J}?skipValidations=true&rlorTrainerJobId=j1", json=job_body())
    assert not (tmp_path / "drydock.sqlite3").exists()
    with pytest.raises(ValueError):
        Emulator(durable=True)
