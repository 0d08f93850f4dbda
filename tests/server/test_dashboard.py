"""The dashboard at `/`, in a real browser (Debian's chromium driven by playwright) through a
scenario run: the page shows the jobs, their states change as the clock moves, the event
stream arrives live. Screenshots go to /tmp/drydock-dashboard-*.png."""

from __future__ import annotations

import shutil

import httpx
import pytest
from _server_helpers import job_body, jobs_url

from drydock.emulator import Emulator, FaultPlan

J = jobs_url()
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ADMIN = {"X-Drydock-Admin-Token": "t0k"}


def test_the_dashboard_needs_the_admin_token_and_renders_escaped() -> None:
    with Emulator(admin_token="t0k") as emu, emu.client() as c:
        assert c.get("/").status_code == 401
        assert c.get("/?token=nope").status_code == 403
        assert c.get("/_drydock/dashboard/stream").status_code == 401
        c.post(f"{J}?skipValidations=true&rlorTrainerJobId=j1",
               json={**job_body(), "displayName": "<script>alert(1)</script>"})
        emu.control_plane.log("note", "drydock", "j1", text="<b>hi</b>")
        page = c.get("/?token=t0k")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert 'id="job-drydock-j1"' in page.text and "CREATING" in page.text
        assert "<b>hi</b>" not in page.text and "&lt;b&gt;hi&lt;/b&gt;" in page.text
        assert "/_drydock/dashboard/stream?token=t0k" in page.text
        assert "/" not in emu.app.openapi()["paths"]  # not an API route


@pytest.mark.slow
def test_the_dashboard_in_a_real_browser() -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not shutil.which(CHROMIUM):
        pytest.skip("no chromium (scripts/setup.sh installs Debian's when root)")
    emu = Emulator(server_mode=True, admin_token="t0k", seed=7)
    try:
        with emu.serve() as server, httpx.Client(base_url=server.url,
                                                 headers={"X-Api-Key": emu.api_key, **ADMIN}) as http:
            for job in ("train-a", "train-b"):
                assert http.post(f"{J}?skipValidations=true&rlorTrainerJobId={job}",
                                 json=job_body()).status_code == 200
            emu.inject(FaultPlan.model_validate({"faults": [
                {"kind": "preempt", "job": "train-b", "at_s": 90}]}))
            with sync_api.sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM,
                                            args=["--no-sandbox", "--disable-gpu"])
                try:
                    page = browser.new_page(viewport={"width": 1200, "height": 900})
                    page.goto(f"{server.url}/?token=t0k")
                    expect = sync_api.expect
                    expect(page.locator("#job-drydock-train-a .state")).to_have_text("CREATING")
                    expect(page.locator("#live")).to_have_text("live", timeout=10_000)
                    page.screenshot(path="/tmp/drydock-dashboard-1.png", full_page=True)

                    # The clock moves: the states change on the open page, through the stream.
                    http.post("/_drydock/clock/advance", json={"seconds": 31})
                    expect(page.locator("#job-drydock-train-a .state")).to_have_text("RUNNING")
                    expect(page.locator("#elapsed")).to_have_text("31")
                    emu.control_plane.record_checkpoint("drydock", "train-a", "step-10",
                                                        "TRAINING", False)
                    http.post("/_drydock/clock/advance", json={"seconds": 60})
                    expect(page.locator("#job-drydock-train-b .state")).to_have_text("FAILED")
                    expect(page.locator("#job-drydock-train-b .timeline .chip")).to_have_count(3)
                    expect(page.locator("#events")).to_contain_text('"kind":"fault.preempt"')
                    expect(page.locator("#count")).to_have_text(f"{len(emu.events)} events")
                    http.delete(f"{J}/train-a")
                    http.post("/_drydock/clock/advance", json={"seconds": 5})
                    expect(page.locator("#job-drydock-train-a .state")).to_have_text("DELETED")
                    page.screenshot(path="/tmp/drydock-dashboard-2.png", full_page=True)

                    # A new job appears (the page re-renders), with the checkpoint and fault.
                    http.post(f"{J}?skipValidations=true&rlorTrainerJobId=train-c",
                              json=job_body())
                    expect(page.locator("#job-drydock-train-c .state")).to_have_text("CREATING")
                    expect(page.locator("#checkpoints")).to_contain_text("step-10")
                    expect(page.locator("#faults")).to_contain_text("preempt")
                    page.screenshot(path="/tmp/drydock-dashboard-3.png", full_page=True)
                finally:
                    browser.close()
    finally:
        emu.close()
