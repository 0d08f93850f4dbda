"""Helpers for the server tests: a `drydock serve` subprocess, the Fireworks wire form."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

import httpx

CLI = [sys.executable, "-m", "drydock.cli"]
Q06 = "accounts/fireworks/models/qwen3-0p6b"


def job_body(**training: Any) -> dict[str, Any]:
    tc = {"baseModel": Q06, "loraRank": 0, "learningRate": 1e-05,
          "acceleratorType": "NVIDIA_H100_80GB", "acceleratorCount": 1, **training}
    return {"serviceMode": True, "keepAlive": False, "dataset": "", "trainingConfig": tc,
            "useReservation": True, "nodeCount": 1}


def jobs_url(account: str = "drydock") -> str:
    return f"/v1/accounts/{account}/rlorTrainerJobs"


def assert_error(r: httpx.Response, status: int, grpc_code: int, message: str) -> dict:
    """The Fireworks (gRPC-gateway) error body, with this exact message."""
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert body == {"code": grpc_code, "message": message, "details": []}, body
    return body


class Served:
    """`drydock serve ...` in a subprocess; reads its announcement lines."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(CLI + ["serve", "--port", "0", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, **(env or {})})
        self.lines: dict[str, str] = {}
        first = self.proc.stdout.readline().strip()
        if not first.startswith("drydock listening on "):
            self.proc.kill()
            raise RuntimeError(f"serve did not start: {first!r} {self.proc.stderr.read()}")
        self.url = first.rsplit(" ", 1)[1]
        for _ in range(2):
            k, _, v = self.proc.stdout.readline().strip().partition(": ")
            self.lines[k] = v

    def read_line(self) -> str:
        return self.proc.stdout.readline().strip()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)


def children(pid: int) -> set[int]:
    """Live processes whose parent is `pid` (from /proc)."""
    out = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                out.add(int(entry))
    return out


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_until(predicate, timeout_s: float, what: str) -> None:
    """Poll a condition another process brings about (real time: a crash test has no clock)."""
    import time

    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)
