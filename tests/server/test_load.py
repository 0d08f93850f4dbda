"""Load: 8 clients x 1,000 mixed operations over loopback HTTP against one server lose and
duplicate nothing: every acknowledged create is listed exactly once, every acknowledged delete
is deleting or deleted, and the event log has one job.created per create."""

from __future__ import annotations

import random
import threading
from collections import Counter

import httpx
import pytest
from _server_helpers import job_body, jobs_url

from drydock.emulator import Emulator

J = jobs_url()
CLIENTS, OPS = 8, 1000


@pytest.mark.slow
def test_eight_clients_a_thousand_mixed_operations_each_lose_nothing() -> None:
    emu = Emulator(server_mode=True)
    created: dict[str, int] = {}
    deleted: set[str] = set()
    errors: list[str] = []
    lock = threading.Lock()

    def client(n: int, url: str) -> None:
        rng = random.Random(n)
        mine: list[str] = []
        with httpx.Client(base_url=url, headers={"X-Api-Key": emu.api_key}, timeout=30) as http:
            for i in range(OPS):
                op = rng.random()
                if op < 0.35 or not mine:
                    job = f"c{n}-{i}"
                    r = http.post(f"{J}?skipValidations=true&rlorTrainerJobId={job}",
                                  json=job_body())
                    if r.status_code == 200:
                        mine.append(job)
                        with lock:
                            created[job] = created.get(job, 0) + 1
                    else:
                        errors.append(f"create {job}: {r.status_code} {r.text}")
                elif op < 0.65:
                    job = rng.choice(mine)
                    r = http.get(f"{J}/{job}")
                    if r.status_code != 200:
                        errors.append(f"get {job}: {r.status_code}")
                elif op < 0.8:
                    r = http.get(J, params={"pageSize": 25})
                    if r.status_code != 200:
                        errors.append(f"list: {r.status_code}")
                else:
                    job = mine.pop(rng.randrange(len(mine)))
                    r = http.delete(f"{J}/{job}")
                    if r.status_code == 200:
                        with lock:
                            deleted.add(job)
                    else:
                        errors.append(f"delete {job}: {r.status_code} {r.text}")

    try:
        with emu.serve() as server:
            threads = [threading.Thread(target=client, args=(n, server.url)) for n in range(CLIENTS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(300)
            assert not errors, errors[:5]
            with httpx.Client(base_url=server.url, headers={"X-Api-Key": emu.api_key}) as http:
                seen, token = Counter(), ""
                while True:
                    page = http.get(J, params={"pageSize": 500, **({"pageToken": token} if token
                                                                    else {})}).json()
                    seen.update((j["name"].rsplit("/", 1)[1], j["state"])
                                for j in page["rlorTrainerJobs"])
                    if not (token := page.get("nextPageToken")):
                        break
        names = Counter(name for name, _ in seen)
        assert set(names) == set(created)              # nothing lost, nothing extra
        assert max(names.values()) == 1 == max(created.values())  # nothing twice
        for name, state in seen:
            if name in deleted:
                assert state in ("JOB_STATE_DELETING", "JOB_STATE_DELETED"), (name, state)
            else:
                assert state in ("JOB_STATE_CREATING", "JOB_STATE_PENDING"), (name, state)
        assert len(emu.events.filter("job.created")) == len(created)
        assert len(created) > CLIENTS * OPS * 0.3  # the mix really was a third creates
    finally:
        emu.close()
