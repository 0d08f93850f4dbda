"""Same scenario + same seed => byte-identical logs; another seed changes what is random.
(Every built-in, training ones included, is also replayed byte for byte in test_library.py.)"""

from __future__ import annotations

from drydock.scenarios import load_builtin, run_scenario


def test_same_seed_twice_is_byte_identical_and_another_seed_differs():
    s = load_builtin("long-run-poisson-preemptions").model_copy(
        update={"workload": load_builtin("long-run-poisson-preemptions").workload.model_copy(
            update={"params": {"hold_s": 6 * 3600, "check_every_s": 600, "max_reconnects": 20}})})
    a = run_scenario(s, seed=5)
    b = run_scenario(s, seed=5)
    c = run_scenario(s, seed=6)
    assert a.events_jsonl() == b.events_jsonl()
    times = lambda r: [e.t for e in r.events if e.kind == "fault.preempt"]
    assert times(a) != times(c)  # Poisson arrivals come from the seed
    assert a.events[0].detail["seed"] == 5 and c.events[0].detail["seed"] == 6
