"""Emulator.client(): the sync in-process client."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from drydock.emulator import Emulator, FaultPlan, HttpFault


def test_a_client_never_closed_does_not_keep_the_process_alive():
    script = ("from drydock.emulator import Emulator\n"
              "c = Emulator().client()\n"
              "print(c.get('/v1/accounts').json()['accounts'][0]['name'])\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "accounts/drydock"


def test_closed_client_says_so_and_app_errors_reach_the_caller():
    emu = Emulator()
    emu.inject(FaultPlan.of(HttpFault(route="accounts.list", reset=True)))
    http = emu.client()
    with pytest.raises(httpx.RemoteProtocolError):
        http.get("/v1/accounts")  # an injected reset surfaces as the httpx error itself
    assert http.get("/v1/accounts").status_code == 200
    http.close()
    with pytest.raises(RuntimeError, match="closed"):
        http.get("/v1/accounts")
    emu.close()
