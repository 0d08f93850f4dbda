"""The /_drydock test-only API: clock, faults, events, reset, and the admin token."""

from __future__ import annotations

import httpx
import pytest
from _emu_helpers import ACCOUNT, JOBS, assert_error, create

from drydock.emulator import Emulator, Event, EventLog

A = ACCOUNT


def test_clock_and_advance(emu: Emulator, client: httpx.Client) -> None:
    create(client, "j1")
    assert client.get("/_drydock/clock").json()["elapsed"] == 0
    r = client.post("/_drydock/clock/advance", json={"seconds": 30})
    assert r.status_code == 200 and r.json()["elapsed"] == 30
    assert client.get(f"{JOBS}/j1").json()["state"] == "JOB_STATE_RUNNING"
    assert client.get("/_drydock/clock").json()["kind"] == "virtual"


@pytest.mark.parametrize("body", [b"", b"{", b'{"seconds": -1}', b'{"seconds": "ten"}',
                                  b'{"secs": 1}', b'{"seconds": 1, "extra": 2}'])
def test_bad_advance_body_is_400(client: httpx.Client, body: bytes) -> None:
    r = client.post("/_drydock/clock/advance", content=body,
                    headers={"Content-Type": "application/json"})
    assert_error(r, 400, 3, "invalid request")


def test_advance_past_the_cap_is_a_clear_error(client: httpx.Client) -> None:
    r = client.post("/_drydock/clock/advance", json={"seconds": 10 * 365 * 86400})
    body = assert_error(r, 409, 9, "ClockCapExceeded")
    assert "cap" in body["message"]


def test_inject_faults_over_http(emu: Emulator, client: httpx.Client) -> None:
    create(client, "j1")
    r = client.post("/_drydock/faults", json={"faults": [
        {"kind": "preempt", "job": "j1", "at_s": 60},
        {"kind": "http", "route": "jobs.get", "status": 503, "skip": 1}]})
    assert r.status_code == 200 and r.json() == {"injected": 2}
    client.post("/_drydock/clock/advance", json={"seconds": 60})
    assert client.get(f"{JOBS}/j1").json()["state"] == "JOB_STATE_FAILED"
    assert client.get(f"{JOBS}/j1").status_code == 503


@pytest.mark.parametrize("faults,needle", [
    ([{"kind": "meteor_strike", "at_s": 1}], "meteor_strike"),
    ([{"kind": "preempt"}], "exactly one"),
    ([{"kind": "preempt", "at_s": 1, "typo": True}], "typo"),
    ([{"kind": "http", "route": "jobs.get", "status": 200}], "status"),
])
def test_bad_fault_plan_is_400(emu: Emulator, client: httpx.Client, faults, needle) -> None:
    r = client.post("/_drydock/faults", json={"faults": faults})
    assert_error(r, 400, 3, needle)
    assert emu.control_plane.faults == []


def test_events_endpoint_is_the_jsonl_log(emu: Emulator, client: httpx.Client) -> None:
    create(client, "j1")
    r = client.get("/_drydock/events")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    assert r.text == emu.events.to_jsonl()
    events = EventLog.parse_jsonl(r.text)
    assert [e.kind for e in events] == ["job.created", "job.state"]
    assert events[1] == Event(0.0, 1, "job.state", A, "j1",
                              {"src": None, "dst": "CREATING", "reason": "created"})


def test_reset_forgets_everything_and_can_reseed(emu: Emulator, client: httpx.Client) -> None:
    create(client, "j1")
    client.post("/_drydock/clock/advance", json={"seconds": 100})
    r = client.post("/_drydock/reset", json={"seed": 9})
    assert r.status_code == 200 and r.json() == {"seed": 9}
    assert emu.seed == 9 and emu.control_plane.seed == 9
    assert client.get(f"{JOBS}/j1").status_code == 404
    assert client.get("/_drydock/clock").json()["elapsed"] == 0
    assert client.get("/_drydock/events").text == ""
    assert client.post("/_drydock/reset").json() == {"seed": 9}    # empty body: keep the seed
    assert_error(client.post("/_drydock/reset", json={"seed": "x"}), 400, 3)
    # JSON Schema's "integer" (what /openapi.json says) includes 3600.0; not 1.5, not false
    assert client.post("/_drydock/reset", json={"seed": 3600.0}).json() == {"seed": 3600}
    assert_error(client.post("/_drydock/reset", json={"seed": 1.5}), 400, 3)
    assert_error(client.post("/_drydock/reset", json={"seed": False}), 400, 3)


def test_admin_token_is_enforced_when_configured() -> None:
    emu = Emulator(admin_token="s3cret")
    with emu.client() as c:
        assert_error(c.get("/_drydock/clock"), 401, 16, "X-Drydock-Admin-Token")
        assert_error(c.post("/_drydock/clock/advance", json={"seconds": 1}), 401, 16)
        bad = {"X-Drydock-Admin-Token": "nope"}
        assert_error(c.post("/_drydock/reset", headers=bad), 403, 7, "wrong")
        assert_error(c.post("/_drydock/faults", json={"faults": []}, headers=bad), 403, 7)
        assert_error(c.get("/_drydock/events", headers=bad), 403, 7)
        assert emu.clock.elapsed() == 0
        good = {"X-Drydock-Admin-Token": "s3cret"}
        assert c.post("/_drydock/clock/advance", json={"seconds": 5}, headers=good).status_code == 200
        assert emu.clock.elapsed() == 5
    emu.close()


def test_no_admin_token_needed_by_default(client: httpx.Client) -> None:
    assert client.get("/_drydock/clock").status_code == 200
