"""Nothing reachable that should not be: the admin token in server mode, per-account events,
constant-time key checks, no open admin routes on a public address."""

from __future__ import annotations

import hmac
import subprocess

import httpx
import pytest
from _server_helpers import CLI, Served, job_body, jobs_url

from drydock.emulator import Emulator
from drydock.emulator.server import is_loopback, server_admin_token


def test_a_served_emulator_without_a_token_gets_a_generated_one() -> None:
    t1 = server_admin_token("127.0.0.1", None, False)
    t2 = server_admin_token("127.0.0.1", None, False)
    assert t1 and t2 and t1 != t2 and len(t1) >= 32
    assert server_admin_token("0.0.0.0", "given", False) == "given"
    assert server_admin_token("::1", None, True) is None


@pytest.mark.parametrize("host,token,open_admin,message", [
    ("0.0.0.0", None, True, "refusing to bind 0.0.0.0 (not a loopback address) with the "
                            "/_drydock routes open: drop --no-admin-token"),
    ("192.168.1.4", None, True, "refusing to bind 192.168.1.4 (not a loopback address) with the "
                                "/_drydock routes open: drop --no-admin-token"),
    ("127.0.0.1", "t", True, "give --admin-token or --no-admin-token, not both"),
    ("127.0.0.1", "", False, "--admin-token must not be empty"),
])
def test_refused_configurations(host, token, open_admin, message) -> None:
    with pytest.raises(ValueError) as exc:
        server_admin_token(host, token, open_admin)
    assert str(exc.value) == message


def test_loopback_detection() -> None:
    assert all(map(is_loopback, ["127.0.0.1", "127.8.0.1", "::1", "[::1]", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "10.0.0.1", "example.com"]))


@pytest.fixture
def locked() -> Emulator:
    emu = Emulator(admin_token="s3cret", accounts={"drydock": "k1", "other": "k2"})
    yield emu
    emu.close()


def test_admin_routes_need_the_token(locked: Emulator) -> None:
    with locked.client() as c:
        r = c.post("/_drydock/reset")
        assert r.status_code == 401
        assert r.json()["message"] == ("this drydock server needs X-Drydock-Admin-Token for "
                                       "/_drydock routes")
        r = c.post("/_drydock/clock/advance", json={"seconds": 1},
                   headers={"X-Drydock-Admin-Token": "s3cre"})
        assert r.status_code == 403 and r.json()["message"] == "wrong X-Drydock-Admin-Token"
        assert c.get("/_drydock/clock").status_code == 401
        ok = c.get("/_drydock/clock", headers={"X-Drydock-Admin-Token": "s3cret"})
        assert ok.status_code == 200


def test_an_account_key_reads_only_its_own_events(locked: Emulator) -> None:
    with locked.client(api_key="k1") as mine, locked.client(api_key="k2") as theirs:
        assert mine.post(f"{jobs_url()}?rlorTrainerJobId=mine-1", json=job_body()).status_code == 200
        assert theirs.post(f"{jobs_url('other')}?rlorTrainerJobId=theirs-1",
                           json=job_body()).status_code == 200
        own = mine.get("/_drydock/events").text
        assert "mine-1" in own and "theirs-1" not in own and "other" not in own
        other = theirs.get("/_drydock/events").text
        assert "theirs-1" in other and "mine-1" not in other
        everyone = mine.get("/_drydock/events", headers={"X-Drydock-Admin-Token": "s3cret"}).text
        assert "mine-1" in everyone and "theirs-1" in everyone
        bad = mine.get("/_drydock/events", headers={"X-Api-Key": "nope"})
        assert bad.status_code == 401 and bad.json()["message"] == "invalid or missing API key"


def test_the_in_process_emulator_stays_open_by_default() -> None:
    with Emulator() as emu, emu.client() as c:
        assert c.post("/_drydock/clock/advance", json={"seconds": 1}).status_code == 200
        assert c.post(f"{jobs_url()}?rlorTrainerJobId=j1", json=job_body()).status_code == 200
        assert '"fault.injected"' not in c.get("/_drydock/events").text
        emu.control_plane.log("fault.injected")  # an event of no account: an open server shows it
        assert '"fault.injected"' in c.get("/_drydock/events").text


def test_keys_and_tokens_are_compared_in_constant_time(locked, monkeypatch) -> None:
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)
    monkeypatch.setattr(hmac, "compare_digest", spy)
    with locked.client(api_key="k2") as c:
        assert c.get("/v1/accounts").status_code == 200
        assert c.get("/_drydock/clock", headers={"X-Drydock-Admin-Token": "x"}).status_code == 403
    assert (b"k2", b"k2") in calls and (b"x", b"s3cret") in calls


def test_serve_prints_a_generated_token_and_locks_the_admin_routes() -> None:
    s = Served()
    try:
        line = s.read_line("admin token: ")
        token = line.removeprefix("admin token: ")
        with httpx.Client(base_url=s.url, timeout=30) as http:
            assert http.post("/_drydock/reset").status_code == 401
            assert http.get("/_drydock/events").status_code == 401
            ok = http.get("/_drydock/clock", headers={"X-Drydock-Admin-Token": token})
            assert ok.status_code == 200
    finally:
        assert s.stop() == 0


def test_serve_with_no_admin_token_is_open_on_loopback() -> None:
    s = Served("--no-admin-token")
    try:
        with httpx.Client(base_url=s.url, timeout=30) as http:
            assert http.post("/_drydock/clock/advance", json={"seconds": 1}).status_code == 200
    finally:
        assert s.stop() == 0


def test_serve_refuses_open_admin_routes_on_a_public_address() -> None:
    done = subprocess.run(CLI + ["serve", "--port", "0", "--host", "0.0.0.0", "--no-admin-token"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "not a loopback address" in done.stdout + done.stderr
