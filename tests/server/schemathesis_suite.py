"""schemathesis over the whole OpenAPI (every mounted dialect and drydock's own routes), in
process (ASGI), with every check it has: status codes, content types, headers and bodies as the
schema says; invalid data refused, valid data accepted, missing auth refused, 405s with a
truthful Allow. The number of examples is bounded (12 per operation).

One exception, stated: `positive_data_acceptance` is not run on `POST /_drydock/faults`. A fault
kind's cross-field rules (exactly one of at_s / after_running_s / at_step, an HTTP fault's
status or reset) are not JSON Schema, so a schema-valid plan can still be a 400."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks

from drydock.emulator import Emulator

load_all_checks()
ALL_CHECKS = list(CHECKS.get_all())
CROSS_FIELD = [c for c in ALL_CHECKS if c.__name__ == "positive_data_acceptance"]

EMU = Emulator(admin_token="admin-token", accounts={"drydock": "drydock-local-key"})
schema = schemathesis.openapi.from_asgi("/openapi.json", EMU.app)
AUTH = {"X-Api-Key": "drydock-local-key", "X-Drydock-Admin-Token": "admin-token"}


def test_every_check_is_run() -> None:
    assert len(ALL_CHECKS) >= 14 and CROSS_FIELD


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_keeps_its_schema(case) -> None:
    excluded = CROSS_FIELD if case.operation.path == "/_drydock/faults" else []
    case.call_and_validate(headers={**AUTH, **(case.headers or {})}, checks=ALL_CHECKS,
                           excluded_checks=excluded)


def test_the_schema_states_bodies_security_and_real_statuses() -> None:
    spec = EMU.app.openapi()
    create = spec["paths"]["/v1/accounts/{account}/rlorTrainerJobs"]["post"]
    body = create["requestBody"]["content"]["application/json"]["schema"]
    assert "trainingConfig" in body["properties"] and body["additionalProperties"] is False
    assert "trainingConfig" in spec["components"]["schemas"]["CreateJobBody"]["properties"]
    assert create["security"] == [{"ApiKey": []}]
    assert spec["components"]["securitySchemes"]["ApiKey"]["name"] == "X-Api-Key"
    assert "400" in create["responses"] and "422" not in create["responses"]
    assert create["responses"]["400"]["content"]["application/json"]["schema"]["required"] == \
        ["code", "message", "details"]
    advance = spec["paths"]["/_drydock/clock/advance"]["post"]
    assert advance["requestBody"]["required"] is True
    assert advance["security"] == [{}, {"AdminToken": []}]
    assert not any("422" in op.get("responses", {}) for ops in spec["paths"].values()
                   for op in ops.values())


def test_405_lists_every_method_of_the_path() -> None:
    # A fresh emulator: the fuzzing above may have armed HTTP faults on EMU.
    with Emulator(admin_token="admin-token") as emu, emu.client() as c:
        r = c.put("/v1/accounts/drydock/rlorTrainerJobs/j1", json={})
        assert r.status_code == 405 and r.headers["allow"] == "DELETE, GET, POST"
        r = c.get("/_drydock/reset", headers=AUTH)
        assert r.status_code == 405 and r.headers["allow"] == "POST"
