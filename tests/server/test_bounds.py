"""Every request bounded: body sizes, JSON-only bodies, numeric fields, clock advances the wire
can represent, fault plans of bounded size (and lazily expanded), trainer processes this machine
can run, and no 500 that leaves a write behind or breaks the connection. Each bad input of
issue 13 is here with its exact status and message, in the Fireworks error format."""

from __future__ import annotations

import json

import httpx
import pytest
from _server_helpers import assert_error, job_body, jobs_url

from drydock.emulator import Emulator, FaultPlan
from drydock.emulator._limits import machine_node_cap
from drydock.emulator.dialects.fireworks import routes as fw_routes

J = jobs_url()
ADVANCE = "/_drydock/clock/advance"


@pytest.fixture
def emu():
    e = Emulator()
    yield e
    e.close()


@pytest.fixture
def client(emu):
    with emu.client() as c:
        yield c


def create(client, job_id: str, body: dict) -> httpx.Response:
    return client.post(f"{J}?skipValidations=true&rlorTrainerJobId={job_id}", json=body)


def no_job(emu: Emulator, job_id: str) -> None:
    assert ("drydock", job_id) not in emu.control_plane.jobs


# ------------------------------------------------------------------ clock
@pytest.mark.parametrize("raw,message", [
    (b'{"seconds": 2.6e11}', "invalid request: [{'type': 'less_than_equal', 'loc': "
                             "('seconds',), 'msg': 'Input should be less than or equal to "
                             "250000000000', 'input': 260000000000.0, 'ctx': {'le': "
                             "250000000000.0}}]"),
    (b'{"seconds": 1e309}', "invalid request: [{'type': 'finite_number', 'loc': ('seconds',), "
                            "'msg': 'Input should be a finite number', 'input': inf}]"),
    (b'{"seconds": Infinity}', "invalid request: [{'type': 'finite_number', 'loc': "
                               "('seconds',), 'msg': 'Input should be a finite number', "
                               "'input': inf}]"),
    (b'{"seconds": NaN}', "invalid request: [{'type': 'finite_number', 'loc': ('seconds',), "
                          "'msg': 'Input should be a finite number', 'input': nan}]"),
])
def test_clock_advances_the_wire_cannot_represent_are_400(emu, client, raw, message) -> None:
    assert create(client, "j1", job_body()).status_code == 200
    r = client.post(ADVANCE, content=raw, headers={"Content-Type": "application/json"})
    assert_error(r, 400, 3, message)
    # ...and nothing broke afterwards: every read and write still answers.
    assert client.get(f"{J}/j1").status_code == 200
    assert client.get(J).status_code == 200
    assert create(client, "j2", job_body()).status_code == 200


def test_a_scaled_clock_server_also_stops_at_the_wire_limit() -> None:
    from drydock.emulator import ScaledClock

    with Emulator(clock=ScaledClock(speed=1)) as emu, emu.client() as c:
        assert c.post(ADVANCE, json={"seconds": 2.4e11}).status_code == 200  # year ~9630
        assert_error(c.post(ADVANCE, json={"seconds": 2.4e11}), 400, 3,
                     "seconds: advancing by 2.4e+11 s would move the clock past "
                     "9999-01-01T00:00:00Z, the last time the wire can represent")
        assert create(c, "j0", job_body()).status_code == 200  # the late clock still renders
    with Emulator(clock=ScaledClock(speed=1)) as emu, emu.client() as c:
        assert c.post(ADVANCE, json={"seconds": 86400 * 365}).status_code == 200
        assert create(c, "j1", job_body()).status_code == 200
        assert c.get(f"{J}/j1").json()["createTime"].startswith("2027")


# ------------------------------------------------------------------ bodies
def test_a_body_over_the_control_plane_limit_is_413(emu, client) -> None:
    body = {**job_body(), "extraValues": {"k": "x" * 10_000_000}}
    assert_error(create(client, "j1", body), 413, 8,
                 f"request body is larger than 262144 bytes, the limit for {J}")
    no_job(emu, "j1")


def test_a_chunked_body_over_the_limit_is_413_too(emu) -> None:
    def chunks():  # no Content-Length: the server counts as it reads
        yield b'{"trainingConfig": {"baseModel": "'
        for _ in range(40):
            yield b"x" * 10_000
        yield b'"}}'
    with emu.serve() as server, httpx.Client(base_url=server.url,
                                             headers={"X-Api-Key": emu.api_key}) as http:
        r = http.post(f"{J}?rlorTrainerJobId=j1", content=chunks(),
                      headers={"Content-Type": "application/json"})
    assert_error(r, 413, 8, f"request body is larger than 262144 bytes, the limit for {J}")


def test_the_trainer_wire_allows_far_larger_bodies_than_the_control_plane(client) -> None:
    big = json.dumps({"data": "x" * 1_000_000})
    r = client.post("/training/v1/rlorTrainerJobs/drydock/j9/api/v1/forward_backward",
                    content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 404  # got past the body limit to the route: no such job
    r = client.post(ADVANCE, content=json.dumps({"seconds": 1, "x": "y" * 2_000_000}),
                    headers={"Content-Type": "application/json"})
    assert_error(r, 413, 8, "request body is larger than 1048576 bytes, the limit for "
                            "/_drydock/clock/advance")


@pytest.mark.parametrize("ctype,shown", [("text/plain", "text/plain"), (None, "none"),
                                         ("application/x-www-form-urlencoded",
                                          "application/x-www-form-urlencoded")])
def test_json_under_another_content_type_is_415(emu, client, ctype, shown) -> None:
    headers = {"Content-Type": ctype} if ctype else {}
    r = client.post(f"{J}?rlorTrainerJobId=j1", content=json.dumps(job_body()), headers=headers)
    assert_error(r, 415, 3, f"unsupported Content-Type {shown!r}: send application/json")
    no_job(emu, "j1")
    ok = client.post(f"{J}?skipValidations=true&rlorTrainerJobId=j1", content=json.dumps(job_body()),
                     headers={"Content-Type": "application/json; charset=utf-8"})
    assert ok.status_code == 200


# ------------------------------------------------------------------ create fields
@pytest.mark.parametrize("change,message", [
    ({"trainingConfig": {"loraRank": 2 ** 70}}, "lora_rank must be <= 512, got 1180591620717411303424"),
    ({"trainingConfig": {"maxContextLength": 2 ** 62}},
     "max_context_length must be <= 1048576, got 4611686018427387904"),
    ({"trainerReplicaCount": -1}, "trainerReplicaCount must be between 0 and 64, got -1"),
    ({"trainerReplicaCount": 65}, "trainerReplicaCount must be between 0 and 64, got 65"),
    ({"inactivityTimeout": "1" + "0" * 309 + "s"}, "inactivity_timeout must be at most 3 hours"),
    ({"inactivityTimeout": "10801s"}, "inactivity_timeout must be at most 3 hours"),
    ({"extraValues": {f"k{i}": "v" for i in range(65)}},
     "extraValues may hold at most 64 entries, keys and values of at most 4096 characters"),
    ({"extraValues": {"k": "v" * 4097}},
     "extraValues may hold at most 64 entries, keys and values of at most 4096 characters"),
])
def test_unbounded_create_fields_are_400(emu, client, change, message) -> None:
    body = job_body()
    for k, v in change.items():
        body[k] = {**body[k], **v} if isinstance(v, dict) and k == "trainingConfig" else v
    assert_error(create(client, "j1", body), 400, 3, message)
    no_job(emu, "j1")


def test_more_nodes_than_this_machine_runs_is_400_in_server_mode() -> None:
    cap = machine_node_cap()
    with Emulator(server_mode=True) as emu, emu.client() as c:
        r = create(c, "j1", {**job_body(), "nodeCount": cap + 1})
        assert_error(r, 400, 3, f"the job asks for {cap + 1} nodes but this machine runs at most "
                                f"{cap} local trainer processes (one per node)")
        no_job(emu, "j1")
    with Emulator() as emu, emu.client() as c:  # in process, nothing runs: only the pool bounds it
        assert create(c, "j1", {**job_body(), "nodeCount": 2}).status_code == 200


# ------------------------------------------------------------------ fault plans
def test_a_million_arrival_poisson_plan_is_refused(emu, client) -> None:
    r = client.post("/_drydock/faults", json={"faults": [
        {"kind": "preempt", "rate_per_hour": 1e6, "until_s": 3600}]})
    assert_error(r, 400, 3, "preempt rate_per_hour 1e+06 over 3600 s expects 1000000 arrivals; "
                            "at most 10000 per fault")
    assert emu.control_plane.faults == []


def test_fault_plans_and_armed_faults_are_bounded(emu, client) -> None:
    one = {"kind": "preempt", "job": "nope", "at_s": 10}
    r = client.post("/_drydock/faults", json={"faults": [one] * 257})
    assert_error(r, 400, 3, "a fault plan may hold at most 256 faults, got 257")
    for _ in range(16):
        assert client.post("/_drydock/faults", json={"faults": [one] * 256}).status_code == 200
    r = client.post("/_drydock/faults", json={"faults": [one]})
    assert_error(r, 400, 3, "at most 4096 faults may be armed at once; 4096 are, and this plan "
                            "adds 1")


def test_poisson_arrivals_are_scheduled_one_at_a_time(emu) -> None:
    """In process (no HTTP bound), a plan of many arrivals still costs nothing at arm time: one
    arrival on the clock at a time."""
    emu.inject(FaultPlan.model_validate({"faults": [
        {"kind": "preempt", "rate_per_hour": 7.2e5, "until_s": 3600}]}))  # ~200,000 arrivals
    assert emu.clock.pending() == 1  # not 200,000 events on the heap
    emu.advance(0.05)
    assert emu.clock.pending() == 1
    fired = [e for e in emu.events if e.kind == "fault.preempt"]
    assert 1 <= len(fired) <= 60  # ~10 expected in 50 ms at 200/s


# ------------------------------------------------------------------ 500s
def test_a_create_that_cannot_be_answered_stores_nothing(emu, client, monkeypatch) -> None:
    def boom(job):
        raise OverflowError("year 10266 is out of range")
    monkeypatch.setattr(fw_routes, "job_to_wire", boom)
    r = create(client, "j1", job_body())
    assert_error(r, 500, 13, "internal error: OverflowError")
    no_job(emu, "j1")
    monkeypatch.undo()
    assert create(client, "j1", job_body()).status_code == 200  # the retry is no 409


def test_a_500_keeps_the_connection_usable() -> None:
    with Emulator() as emu, emu.serve() as server, httpx.Client(
            base_url=server.url, headers={"X-Api-Key": emu.api_key}) as http:
        real = fw_routes.job_to_wire
        fw_routes.job_to_wire = lambda job: 1 / 0
        try:
            r = http.post(f"{J}?skipValidations=true&rlorTrainerJobId=j1", json=job_body())
        finally:
            fw_routes.job_to_wire = real
        assert_error(r, 500, 13, "internal error: ZeroDivisionError")
        for i in range(5):  # same keep-alive connection
            assert http.post(f"{J}?skipValidations=true&rlorTrainerJobId=k{i}",
                             json=job_body()).status_code == 200
