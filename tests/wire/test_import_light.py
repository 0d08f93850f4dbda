"""`import drydock.sdk` (a client library) loads no server, trainer or plotting code, and
`drydock.wire` loads nothing of drydock: each is checked in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("fastapi", "uvicorn", "starlette", "torch", "matplotlib", "hypothesis", "freezegun",
         "drydock.emulator", "drydock.trainer", "drydock.scenarios", "drydock.testing")

_PROBE = """
import json, logging, sys
import {module}
print(json.dumps({{
    "modules": sorted(m for m in sys.modules if m.split(".")[0] in {tops!r} or m.startswith("drydock.")),
    "uvicorn_filters": [type(f).__name__ for f in logging.Logger.manager.loggerDict.get("uvicorn.error", logging.Logger("x")).filters]
    if isinstance(logging.Logger.manager.loggerDict.get("uvicorn.error"), logging.Logger) else [],
}}))
"""


def _loaded(module: str) -> dict:
    tops = sorted({h.split(".")[0] for h in HEAVY} - {"drydock"})
    out = subprocess.run([sys.executable, "-c", _PROBE.format(module=module, tops=tops)],
                         capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout)


@pytest.mark.parametrize("module", ["drydock.sdk", "drydock.sdk.jobs"])
def test_the_sdk_loads_no_server_trainer_or_plotting_code(module):
    seen = _loaded(module)
    heavy = [m for m in seen["modules"] if any(m == h or m.startswith(h + ".") for h in HEAVY)]
    assert heavy == []
    assert seen["uvicorn_filters"] == []
    # The probe does see a module it should: the wire module the SDK is built on.
    assert "drydock.wire.fireworks" in seen["modules"]


def test_the_wire_module_loads_nothing_else_of_drydock():
    seen = _loaded("drydock.wire.fireworks")
    assert [m for m in seen["modules"] if m.startswith("drydock.")] == [
        "drydock.wire", "drydock.wire.fireworks", "drydock.wire.fireworks._bodies",
        "drydock.wire.fireworks._rules", "drydock.wire.fireworks._states"]


def test_the_probe_sees_a_server_when_one_is_imported():
    # Guards the two tests above against a probe that can never see anything.
    seen = _loaded("drydock.emulator.server")
    assert "fastapi" in seen["modules"] and "drydock.emulator" in seen["modules"]
    # Not even the server module touches logging at import (a ServerThread installs its filter).
    assert seen["uvicorn_filters"] == []


_WITHOUT_HYPOTHESIS = """
import sys

class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "hypothesis":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NotInstalled())
import drydock.testing, drydock.testing.plugin  # the plugin loads in every pytest run
try:
    import drydock.testing.strategies
except ModuleNotFoundError as exc:
    print(exc)
"""


def test_without_hypothesis_the_plugin_loads_and_strategies_name_the_extra():
    out = subprocess.run([sys.executable, "-c", _WITHOUT_HYPOTHESIS], capture_output=True,
                         text=True, timeout=120, check=True)
    assert out.stdout.strip() == ("drydock.testing.strategies needs hypothesis: "
                                  "pip install 'drydock-emulator[testing]'")
