"""HttpFault over the in-process client: status codes with gRPC bodies, Retry-After, latency on
the virtual clock, connection resets, lost responses, count/skip/time windows."""

from __future__ import annotations

import httpx
import pytest
from _emu_helpers import ACCOUNT, JOBS, create, job_body

from drydock.emulator import Emulator, FaultPlan, HttpFault

A = ACCOUNT


def http_events(emu: Emulator) -> list[dict]:
    return [e.detail for e in emu.events.filter("fault.http")]


def test_429_with_retry_after_header(emu: Emulator, client: httpx.Client) -> None:
    emu.inject(FaultPlan.of(HttpFault(route="jobs.create", status=429, retry_after_s=7)))
    r = create(client, "j1")
    assert r.status_code == 429 and r.headers["retry-after"] == "7"
    assert r.json()["code"] == 8 and "429" in r.json()["message"]
    assert client.get(f"{JOBS}/j1").status_code == 404        # nothing was written
    assert create(client, "j1").status_code == 200              # count=1: next one goes through
    assert http_events(emu) == [{"route": "fireworks.jobs.create", "method": "POST", "status": 429,
                                 "reset": False, "lose_response": False, "latency_s": 0.0}]


@pytest.mark.parametrize("status,grpc", [(500, 13), (503, 14), (502, 14)])
def test_server_errors_carry_a_grpc_body(emu: Emulator, client: httpx.Client, status, grpc) -> None:
    create(client, "j1")
    emu.inject(FaultPlan.of(HttpFault(route="jobs.get", status=status)))
    r = client.get(f"{JOBS}/j1")
    assert r.status_code == status
    assert r.json() == {"code": grpc, "message": f"injected fault: HTTP {status}", "details": []}
    assert "retry-after" not in r.headers


def test_route_names_match_each_route(emu: Emulator, client: httpx.Client) -> None:
    create(client, "j1")
    emu.advance(30)
    emu.inject(FaultPlan.of(
        HttpFault(route="fireworks.jobs.resume", status=503),  # the :resume / :cancel verb route
        HttpFault(route="jobs.delete", status=500),      # a short name: that route of any dialect
        HttpFault(route="accounts.list", status=429),
        HttpFault(route="gateway.healthz", status=502)))
    assert client.post(f"{JOBS}/j1:resume").status_code == 503
    assert client.delete(f"{JOBS}/j1").status_code == 500
    assert client.get("/v1/accounts?pageSize=2").status_code == 429
    assert client.get(f"/training/v1/rlorTrainerJobs/{A}/j1/api/v1/healthz").status_code == 502
    assert client.get(f"{JOBS}/j1").status_code == 200       # jobs.get was not targeted
    assert emu.control_plane.get_job(A, "j1").state.value == "RUNNING"
    assert [e["route"] for e in http_events(emu)] == [
        "fireworks.jobs.resume", "fireworks.jobs.delete", "fireworks.accounts.list",
        "fireworks.gateway.healthz"]


def test_path_glob_and_method_filter(emu: Emulator, client: httpx.Client) -> None:
    create(client, "j1")
    emu.inject(FaultPlan.of(HttpFault(route="/v1/accounts/*/rlorTrainerJobs/j1", method="DELETE",
                                      status=503, count=0)))
    assert client.get(f"{JOBS}/j1").status_code == 200
    assert client.delete(f"{JOBS}/j1").status_code == 503
    assert client.delete(f"{JOBS}/j1").status_code == 503       # count=0: unlimited


def test_latency_advances_the_virtual_clock(emu: Emulator, client: httpx.Client) -> None:
    create(client, "j1")
    emu.inject(FaultPlan.of(HttpFault(route="jobs.get", latency_s=45)))
    r = client.get(f"{JOBS}/j1")
    assert r.status_code == 200
    assert emu.clock.elapsed() == 45
    # The 45 s passed before the handler ran: provisioning (30 s) finished during the delay.
    assert r.json()["state"] == "JOB_STATE_RUNNING"


def test_latency_then_error(emu: Emulator, client: httpx.Client) -> None:
    emu.inject(FaultPlan.of(HttpFault(route="accounts.list", latency_s=60, status=504)))
    r = client.get("/v1/accounts")
    assert r.status_code == 504 and emu.clock.elapsed() == 60


def test_reset_is_a_protocol_error_for_the_client(emu: Emulator, client: httpx.Client) -> None:
    create(client, "j1")
    emu.inject(FaultPlan.of(HttpFault(route="jobs.get", reset=True)))
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(f"{JOBS}/j1")
    assert client.get(f"{JOBS}/j1").status_code == 200
    assert http_events(emu)[0]["reset"] is True


def test_lose_response_commits_the_write_but_returns_the_status(emu: Emulator,
                                                                client: httpx.Client) -> None:
    emu.inject(FaultPlan.of(HttpFault(route="jobs.create", lose_response=True, status=503)))
    r = create(client, "j1")
    assert r.status_code == 503 and r.json()["code"] == 14
    assert client.get(f"{JOBS}/j1").status_code == 200          # committed anyway
    assert create(client, "j1").status_code == 409              # the SDK's retry sees 409
    assert [e.kind for e in emu.events.filter("job.created")] == ["job.created"]


def test_lose_response_with_reset(emu: Emulator, client: httpx.Client) -> None:
    emu.inject(FaultPlan.of(HttpFault(route="jobs.create", lose_response=True, reset=True)))
    with pytest.raises(httpx.RemoteProtocolError):
        create(client, "j1")
    assert client.get(f"{JOBS}/j1").status_code == 200


def test_skip_and_count_window(emu: Emulator, client: httpx.Client) -> None:
    create(client, "j1")
    emu.inject(FaultPlan.of(HttpFault(route="jobs.get", status=503, skip=2, count=3)))
    codes = [client.get(f"{JOBS}/j1").status_code for _ in range(7)]
    assert codes == [200, 200, 503, 503, 503, 200, 200]
    assert len(http_events(emu)) == 3


def test_time_window(emu: Emulator, client: httpx.Client) -> None:
    create(client, "j1")
    emu.inject(FaultPlan.of(HttpFault(route="jobs.get", status=503, count=0,
                                      from_s=100, until_s=200)))
    seen = []
    for t in (0, 100, 150, 200):
        emu.advance(t - emu.clock.elapsed())
        seen.append(client.get(f"{JOBS}/j1").status_code)
    assert seen == [200, 503, 503, 200]


def test_http_fault_validation() -> None:
    with pytest.raises(ValueError, match="needs status"):
        HttpFault(route="jobs.get")
    with pytest.raises(ValueError, match="lose_response needs"):
        HttpFault(route="jobs.get", lose_response=True)
    with pytest.raises(ValueError):
        HttpFault(route="jobs.get", status=200)


def test_http_faults_leave_the_control_api_alone(emu: Emulator, client: httpx.Client) -> None:
    emu.inject(FaultPlan.of(HttpFault(route="*", status=503, count=0)))
    assert client.get("/_drydock/clock").status_code == 200
    assert client.post(f"{JOBS}?rlorTrainerJobId=x", json=job_body()).status_code == 503


def test_reset_over_a_real_socket_drops_the_connection_quietly():
    """Over uvicorn the client sees a dropped connection; the server logs no traceback for it
    and keeps serving."""
    import logging

    import httpx

    from drydock.emulator import Emulator, FaultPlan, HttpFault

    class Keep(logging.Handler):  # uvicorn's loggers do not propagate to the root (caplog)
        def __init__(self):
            super().__init__(logging.ERROR)
            self.records = []

        def emit(self, record):
            self.records.append(record)

    emu = Emulator()
    emu.inject(FaultPlan.of(HttpFault(route="accounts.list", reset=True)))
    keep = Keep()
    with emu.serve() as server:
        logging.getLogger("uvicorn.error").addHandler(keep)
        try:
            with httpx.Client(base_url=server.url, headers={"X-Api-Key": emu.api_key}) as http:
                with pytest.raises(httpx.RemoteProtocolError):
                    http.get("/v1/accounts")
                assert http.get("/v1/accounts").status_code == 200
        finally:
            logging.getLogger("uvicorn.error").removeHandler(keep)
    assert keep.records == []
    emu.close()
