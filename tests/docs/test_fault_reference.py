"""docs/faults.md is generated from the code and current: every fault kind, every field, every
dialect's route names; its YAML examples are valid fault plans."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import yaml

from drydock.emulator import Emulator
from drydock.emulator.faults import FaultPlan, fault_kinds

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "faults.md"


def _generator():
    spec = importlib.util.spec_from_file_location("gen_fault_reference",
                                                  ROOT / "scripts" / "gen_fault_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_page_is_current():
    assert PAGE.read_text() == _generator().render(), \
        "docs/faults.md is stale: run python scripts/gen_fault_reference.py"


def test_every_kind_and_field_is_documented():
    text = PAGE.read_text()
    gen = _generator()
    headings = re.findall(r"^## (\S+)$", text, re.M)
    assert [h for h in headings if h != "Route"] == list(fault_kinds())
    for kind, cls in fault_kinds().items():
        section = text.split(f"\n## {kind}\n", 1)[1].split("\n## ", 1)[0]
        for name, field in cls.model_fields.items():
            if name == "kind":
                continue
            assert f"| `{name}` |" in section, (kind, name)
            # a meaning for every field, so a new field cannot go undocumented
            assert gen._doc(kind, name, field), f"{kind}.{name} has no description"


def test_examples_are_valid_fault_plans():
    examples = re.findall(r"```yaml\n(.*?)```", PAGE.read_text(), re.S)
    plan = FaultPlan.model_validate({"faults": [f for e in examples for f in yaml.safe_load(e)]})
    assert sorted({f.kind for f in plan.faults}) == sorted(fault_kinds())


def test_every_route_name_is_listed():
    text = PAGE.read_text()
    with Emulator() as emu:
        names = emu.route_names()
    assert names and all(f"| `{n}` |" in text for n in names)
    assert "fireworks.jobs.get" in names


def test_check_mode_reports_staleness(tmp_path, monkeypatch):
    gen = _generator()
    monkeypatch.setattr(gen, "OUT", tmp_path / "faults.md")
    assert gen.main(["--check"]) == 1
    assert gen.main([]) == 0 and gen.main(["--check"]) == 0
