"""Growth bounded: AIP-158 paging of lists (pageSize, pageToken, nextPageToken) and deleted jobs
dropped after their retention on the clock."""

from __future__ import annotations

import pytest
from _server_helpers import assert_error, job_body, jobs_url

from drydock.emulator import Emulator, Timings

J = jobs_url()


@pytest.fixture
def emu():
    e = Emulator(timings=Timings(deleted_retention_s=600))
    yield e
    e.close()


@pytest.fixture
def client(emu):
    with emu.client() as c:
        yield c


def create(client, job_id: str):
    r = client.post(f"{J}?skipValidations=true&rlorTrainerJobId={job_id}", json=job_body())
    assert r.status_code == 200, r.text


def walk(client, size: int | None = None) -> list[str]:
    names, token = [], ""
    while True:
        params = {k: v for k, v in (("pageSize", size), ("pageToken", token)) if v}
        page = client.get(J, params=params).json()
        names += [j["name"].rsplit("/", 1)[1] for j in page["rlorTrainerJobs"]]
        token = page.get("nextPageToken", "")
        if not token:
            return names


def test_pages_cover_every_job_once_with_opaque_tokens(client) -> None:
    for i in range(7):
        create(client, f"j{i}")
    first = client.get(J, params={"pageSize": 3}).json()
    assert len(first["rlorTrainerJobs"]) == 3 and first["totalSize"] == 7
    assert not first["nextPageToken"].isdigit()  # opaque, not an offset to guess at
    assert walk(client, 3) == [f"j{i}" for i in range(7)]
    assert walk(client) == [f"j{i}" for i in range(7)]  # pageSize 0/absent: the default (50)
    last = client.get(J, params={"pageSize": 7}).json()
    assert "nextPageToken" not in last  # no token on the last page


def test_page_size_bounds(client) -> None:
    for i in range(3):
        create(client, f"j{i}")
    assert_error(client.get(J, params={"pageSize": -1}), 400, 3, "pageSize must be >= 0, got -1")
    assert_error(client.get(J, params={"pageSize": "x"}), 400, 3,
                 "pageSize must be an integer, got 'x'")
    assert len(client.get(J, params={"pageSize": 10 ** 9}).json()["rlorTrainerJobs"]) == 3
    assert_error(client.get(J, params={"pageToken": "bm9wZQ"}), 400, 3, "invalid pageToken 'bm9wZQ'")


def test_a_page_continues_after_its_last_job_when_earlier_jobs_are_dropped(emu, client) -> None:
    for i in range(6):
        create(client, f"j{i}")
    first = client.get(J, params={"pageSize": 3}).json()
    for i in range(3):
        assert client.delete(f"{J}/j{i}").status_code == 200
    emu.advance(5 + 600)  # deleted, then retention over: j0..j2 leave the list
    rest = client.get(J, params={"pageSize": 3, "pageToken": first["nextPageToken"]}).json()
    assert [j["name"].rsplit("/", 1)[1] for j in rest["rlorTrainerJobs"]] == ["j3", "j4", "j5"]


def test_deleted_jobs_leave_after_their_retention(emu, client) -> None:
    create(client, "j1")
    create(client, "j2")
    emu.control_plane.record_checkpoint("drydock", "j1", "c1", "TRAINING", False)
    client.delete(f"{J}/j1")
    emu.advance(5)
    assert client.get(f"{J}/j1").json()["state"] == "JOB_STATE_DELETED"
    emu.advance(599)
    assert client.get(J).json()["totalSize"] == 2  # still within its retention
    emu.advance(1)
    assert client.get(J).json()["totalSize"] == 1
    assert client.get(f"{J}/j1").status_code == 404
    assert ("drydock", "j1") not in emu.control_plane.checkpoints
    assert not [e for e in emu.events if e.kind not in ("job.created", "job.state",
                                                        "checkpoint.saved")]  # no new event kind


def test_a_resumed_or_recreated_job_is_not_dropped(emu, client) -> None:
    create(client, "j1")
    client.delete(f"{J}/j1")
    emu.advance(605)
    create(client, "j1")  # the id is free again after retention
    emu.advance(10_000)
    assert client.get(f"{J}/j1").json()["state"] == "JOB_STATE_RUNNING"


def test_drydock_serve_keeps_deleted_jobs_an_hour() -> None:
    from drydock.emulator.server import SERVER_DELETED_RETENTION_S

    assert SERVER_DELETED_RETENTION_S == 3600
    assert Timings().deleted_retention_s == 86400  # in process: a day, beyond any scenario
