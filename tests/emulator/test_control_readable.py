"""/_drydock control routes: one validator with readable `path: message` errors, request-body
schemas in OpenAPI, event filters that work (or a 400), and Swagger UI without a CDN."""

from __future__ import annotations

import httpx
import pytest
from _emu_helpers import ACCOUNT, assert_error, create

from drydock.emulator import Emulator, EventLog
from drydock.emulator._validate import FaultPlanProblems, check_for
from drydock.emulator.faults import FaultPlan, HttpFault, Preempt


@pytest.mark.parametrize("fault,needles", [
    ({"kind": "http", "route": "jobs.gett", "status": 503},
     ["faults[0].route", "unknown route name 'jobs.gett'", "did you mean 'jobs.get'"]),
    ({"kind": "http", "route": "jobs.get", "status": 503, "at_s": 5},
     ["faults[0]: unknown key 'at_s' (did you mean 'from_s'?)"]),
    ({"kind": "preemt", "at_s": 5}, ["faults[0]", "unknown fault kind 'preemt'",
                                      "did you mean 'preempt'"]),
    ({"kind": "preempt", "at_step": 3}, ["faults[0].at_step", "no trainer runtime"]),
    ({"kind": "preempt", "at_s": -1}, ["faults[0].at_s: Input should be greater than or equal to 0"]),
])
def test_fault_plan_errors_are_readable_and_nothing_is_armed(emu, client, fault, needles):
    r = client.post("/_drydock/faults", json={"faults": [fault]})
    body = assert_error(r, 400, 3, "invalid request: ", *needles)
    assert "{'type'" not in body["message"] and "'loc'" not in body["message"]  # no raw dump
    assert emu.control_plane.faults == []


def test_good_route_names_and_globs_are_accepted(client):
    r = client.post("/_drydock/faults", json={"faults": [
        {"kind": "http", "route": "jobs.get", "status": 503},
        {"kind": "http", "route": "/v1/*", "status": 500}]})
    assert r.status_code == 200 and r.json() == {"injected": 2}


def test_advance_errors_are_readable(client):
    assert_error(client.post("/_drydock/clock/advance", json={"secs": 1}), 400, 3,
                 "secs: unknown key (did you mean 'seconds'?)")
    assert_error(client.post("/_drydock/clock/advance", content=b"{",
                             headers={"Content-Type": "application/json"}), 400, 3, "JSON")


def test_python_entry_uses_the_same_checks(emu):
    with pytest.raises(FaultPlanProblems, match=r"faults\[0\]\.route: .*did you mean 'jobs.get'"):
        check_for(emu, FaultPlan.of(HttpFault(route="jobs.gett", status=503)))
    with pytest.raises(FaultPlanProblems, match="no trainer runtime"):
        check_for(emu, FaultPlan.of(Preempt(at_step=2)))
    check_for(emu, FaultPlan.of(HttpFault(route="jobs.get", status=503), Preempt(at_s=1)))


def test_control_routes_document_their_bodies(client):
    spec = client.get("/openapi.json").json()

    def resolve(node):
        ref = node.get("$ref", "")
        return spec["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else node

    paths = spec["paths"]
    faults = paths["/_drydock/faults"]["post"]["requestBody"]["content"]["application/json"]
    items = resolve(faults["schema"])["properties"]["faults"]["items"]
    kinds = {resolve(m)["properties"]["kind"]["const"] for m in items["oneOf"]}
    assert {"preempt", "http", "hold_state"} <= kinds
    adv = paths["/_drydock/clock/advance"]["post"]["requestBody"]["content"]["application/json"]
    assert resolve(adv["schema"])["properties"]["seconds"]["minimum"] == 0
    params = {p["name"] for p in paths["/_drydock/events"]["get"]["parameters"]}
    assert {"kind", "job", "account", "since"} <= params


def test_event_filters(emu, client):
    create(client, "j1")
    create(client, "j2")
    client.post("/_drydock/clock/advance", json={"seconds": 40})

    def kinds_jobs(query):
        r = client.get(f"/_drydock/events?{query}")
        assert r.status_code == 200, r.text
        return [(e.kind, e.job) for e in EventLog.parse_jsonl(r.text)]

    assert kinds_jobs("kind=job.created") == [("job.created", "j1"), ("job.created", "j2")]
    assert set(kinds_jobs("kind=job")) == {("job.created", "j1"), ("job.created", "j2"),
                                           ("job.state", "j1"), ("job.state", "j2")}
    assert {j for _, j in kinds_jobs("job=j2")} == {"j2"}
    assert kinds_jobs(f"account={ACCOUNT}&job=j1&kind=job.created") == [("job.created", "j1")]
    assert kinds_jobs("account=nobody") == []
    late = [e for e in emu.events if e.t >= 1]
    assert late and len(kinds_jobs("since=1")) == len(late)


def test_unknown_event_filter_is_refused(client):
    assert_error(client.get("/_drydock/events?knd=job"), 400, 3, "'knd'", "did you mean 'kind'")


def test_swagger_ui_is_served_without_a_cdn(emu, client):
    page = client.get("/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower() and "https://" not in page.text
    js = client.get("/docs/static/swagger-ui-bundle.js")
    assert js.status_code == 200 and len(js.content) > 100_000
    assert client.get("/docs/static/swagger-ui.css").status_code == 200
    assert client.get("/redoc").status_code == 404  # only a CDN offers it


def test_docs_over_a_real_socket():
    with Emulator() as emu, emu.serve() as server:
        with httpx.Client(base_url=server.url) as http:
            assert "/docs/static/swagger-ui-bundle.js" in http.get("/docs").text
            assert http.get("/docs/static/swagger-ui-bundle.js").status_code == 200


def test_constructor_hook_names_unknown_keys_like_the_cli():
    """What the fault models' before-validator calls (wired by the core's fault classes)."""
    from pydantic import ValidationError, model_validator

    from drydock.emulator._validate import reject_unknown_keys

    class Checked(HttpFault):
        @model_validator(mode="before")
        @classmethod
        def _keys(cls, data):
            return reject_unknown_keys(cls, data)

    with pytest.raises(ValidationError, match=r"unknown key 'at_s' \(did you mean 'from_s'\?\)"):
        Checked(route="jobs.get", status=503, at_s=5)
    assert Checked(route="jobs.get", status=503, from_s=5).from_s == 5
