"""`drydock serve` says which clock it runs and where its docs are."""

from __future__ import annotations

import signal
import subprocess
import sys

import httpx

from drydock.emulator._banner import serve_banner


def test_banner_names_clock_speed_and_docs():
    wall = serve_banner("http://127.0.0.1:8765", account="a", api_key="k", speed=1)
    assert wall[:3] == ["drydock listening on http://127.0.0.1:8765", "account: a", "api key: k"]
    text = "\n".join(wall)
    assert "clock: wall time (1x)" in text and "--speed" in text
    assert "remote_virtual_time('http://127.0.0.1:8765')" in text
    assert "docs: http://127.0.0.1:8765/docs" in text
    fast = "\n".join(serve_banner("http://h:1", account="a", api_key="k", speed=60, admin_token="t"))
    assert "clock: scaled, 60x wall time" in fast and "X-Drydock-Admin-Token" in fast


def test_served_banner_and_docs_page():
    proc = subprocess.Popen([sys.executable, "-m", "drydock.cli", "serve", "--port", "0",
                             "--speed", "30"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        lines = [proc.stdout.readline().strip() for _ in range(5)]
        url = lines[0].rsplit(" ", 1)[1]
        assert lines[3].startswith("clock: scaled, 30x wall time"), lines
        assert lines[4].startswith(f"docs: {url}/docs"), lines
        with httpx.Client(base_url=url, timeout=30) as http:
            assert http.get("/docs/static/swagger-ui-bundle.js").status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
