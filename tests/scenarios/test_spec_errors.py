"""Bad scenario files: every problem is reported with the file, the line and what is wrong."""

from __future__ import annotations

import textwrap

import pytest

from drydock.scenarios import ScenarioFileError, parse_scenario

GOOD = """\
name: probe
seed: 3
jobs:
  - id: j1
    base_model: accounts/fireworks/models/qwen3-0p6b
    shape: accounts/fireworks/trainingShapes/qwen3-0p6b-32k-h100
faults:
  - {kind: preempt, job: j1, after_running_s: 60}
workload:
  name: lifecycle
  params: {hold_s: 120}
expect:
  outcome: ok
"""

# (description, replace this, with this, expected line, words the message must contain)
CASES = [
    ("unknown top-level key", "seed: 3", "seed: 3\nsede: 4", 3, ["sede", "unknown key"]),
    ("wrong type", "seed: 3", "seed: three", 2, ["seed", "integer"]),
    ("unknown fault kind", "{kind: preempt,", "{kind: meteor,", 8, ["meteor", "unknown fault kind"]),
    ("negative time", "after_running_s: 60", "after_running_s: -5", 8,
     ["after_running_s", "greater than or equal to 0"]),
    ("unknown shape", "qwen3-0p6b-32k-h100", "no-such-shape", 6, ["shape", "unknown training shape"]),
    ("unknown base model", "models/qwen3-0p6b\n", "models/gpt-17\n", 5, ["base_model", "gpt-17"]),
    ("unknown workload", "name: lifecycle", "name: lifecyle", 10, ["lifecyle", "unknown workload"]),
    ("bad workload param", "{hold_s: 120}", "{hold_s: 120, hodl_s: 3}", 11, ["hodl_s", "unknown key"]),
    ("fault for an undeclared job", "job: j1,", "job: j2,", 8, ["j2", "does not declare"]),
    ("bad job id", "id: j1", "id: J_1", 4, ["id", "lowercase"]),
    ("missing field", "    base_model: accounts/fireworks/models/qwen3-0p6b\n", "", 4,
     ["base_model", "Field required"]),
    ("bad outcome", "outcome: ok", "outcome: maybe", 13, ["outcome", "'ok' or 'error'"]),
    ("duplicate key", "seed: 3", "seed: 3\nseed: 4", 3, ["duplicate key"]),
    # The line that opened the unclosed bracket, not the next one (where PyYAML gave up).
    ("broken YAML", "seed: 3", "seed: [3", 2, ["invalid YAML", "not closed", "on line 3"]),
    ("unclosed quote", "outcome: ok", 'outcome: "ok', 13, ["invalid YAML", "not closed"]),
    ("unknown route", "{kind: preempt, job: j1, after_running_s: 60}",
     "{kind: http, route: jobs.creat, status: 500}", 8, ["jobs.creat", "unknown route name"]),
    ("route typo gets a suggestion", "{kind: preempt, job: j1, after_running_s: 60}",
     "{kind: http, route: jobs.gett, status: 500}", 8,
     ["faults[0].route", "jobs.gett", "did you mean 'jobs.get'"]),
    ("at_s on an http fault", "{kind: preempt, job: j1, after_running_s: 60}",
     "{kind: http, route: jobs.get, status: 500, at_s: 5}", 8,
     ["faults[0]: unknown key 'at_s' (did you mean 'from_s'?)"]),
    ("fault kind typo", "{kind: preempt,", "{kind: preemt,", 8,
     ["faults[0].kind", "did you mean 'preempt'", "known: cancel"]),
    ("at_step with no trainer", "after_running_s: 60}", "at_step: 3}", 8,
     ["faults[0].at_step", "no trainer runtime", "never fire"]),
    ("event kind typo", "outcome: ok", "outcome: ok\n  events:\n    - {kind: fault.preemt}", 15,
     ["expect.events[0].kind", "unknown event kind 'fault.preemt'", "did you mean 'fault.preempt'",
      "known:"]),
    ("unknown key suggestion", "seed: 3", "seed: 3\nsettle: 4", 3,
     ["settle", "did you mean 'settle_s'"]),
    ("two fault triggers", "after_running_s: 60}", "after_running_s: 60, at_step: 3}", 8,
     ["faults[0]", "exactly one of"]),
    ("shape for another model", "models/qwen3-0p6b\n", "models/qwen3-8b\n", 6,
     ["is for accounts/fireworks/models/qwen3-0p6b"]),
    ("unknown dialect", "seed: 3", "seed: 3\ndialects: {firework: {rdma_weight_sync: true}}", 3,
     ["dialects.firework", "no dialect 'firework'", "did you mean 'fireworks'"]),
    ("unknown dialect option", "seed: 3", "seed: 3\ndialects: {fireworks: {rdma: true}}", 3,
     ["dialects.fireworks", "no option 'rdma'", "its options: rdma_weight_sync"]),
    ("dialect option of the wrong type", "seed: 3",
     "seed: 3\ndialects: {fireworks: {rdma_weight_sync: 1}}", 3,
     ["dialects.fireworks", "takes a bool, not 1"]),
]


def test_gateway_route_names_are_known():
    text = GOOD.replace("{kind: preempt, job: j1, after_running_s: 60}",
                        "{kind: http, route: gateway.forward_backward, status: 503, count: 2}")
    assert parse_scenario(text).faults[0].route == "gateway.forward_backward"


def test_event_kind_prefixes_and_custom_workload_kinds_pass():
    text = GOOD.replace("outcome: ok", "outcome: ok\n  events:\n    - {kind: fault}\n"
                        "    - {kind: workload.step, min: 0}\n    - {kind: job.state}")
    assert [e.kind for e in parse_scenario(text).expect.events] == [
        "fault", "workload.step", "job.state"]


def test_good_file_parses():
    s = parse_scenario(GOOD, "good.yaml")
    assert s.name == "probe" and s.jobs[0].id == "j1" and s.faults[0].kind == "preempt"


@pytest.mark.parametrize("what,old,new,line,words", CASES, ids=[c[0] for c in CASES])
def test_bad_file_reports_file_line_and_problem(what, old, new, line, words):
    assert old in GOOD
    text = GOOD.replace(old, new, 1)
    with pytest.raises(ScenarioFileError) as info:
        parse_scenario(text, "bad.yaml")
    problems = info.value.problems
    assert any(p.line == line for p in problems), [str(p) for p in problems]
    msg = str(info.value)
    assert f"bad.yaml:{line}:" in msg
    for w in words:
        assert w in msg, msg


def test_every_problem_is_listed_not_just_the_first():
    text = GOOD.replace("seed: 3", "seed: -1").replace("hold_s: 120", "hold_s: -1")
    with pytest.raises(ScenarioFileError) as info:
        parse_scenario(text, "two.yaml")
    assert [p.line for p in info.value.problems] == [2]  # schema errors first...
    text = GOOD.replace("job: j1,", "job: j9,").replace("hold_s: 120", "hold_s: -1")
    with pytest.raises(ScenarioFileError) as info:
        parse_scenario(text, "two.yaml")
    assert sorted(p.line for p in info.value.problems) == [8, 11]  # ...then every semantic one


def test_round_trip_through_yaml():
    s = parse_scenario(GOOD)
    assert parse_scenario(s.to_yaml()) == s


def test_not_a_mapping():
    with pytest.raises(ScenarioFileError, match=r"x.yaml:1: .*YAML mapping"):
        parse_scenario(textwrap.dedent("- a\n- b\n"), "x.yaml")
