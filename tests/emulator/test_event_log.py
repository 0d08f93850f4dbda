"""The event log: ordered, JSONL round trip, filters, incremental reads."""

from __future__ import annotations

from drydock.emulator import Event, EventLog


def test_append_orders_by_seq_and_round_trips_through_jsonl() -> None:
    log = EventLog()
    log.append(0.0, "job.created", "a", "j1", base_model="m")
    log.append(1.25, "job.state", "a", "j1", src=None, dst="CREATING")
    log.append(2.0, "fault.preempt", "a", "j1", fired=True)
    text = log.to_jsonl()
    assert text.splitlines()[1] == ('{"account":"a","detail":{"dst":"CREATING","src":null},'
                                    '"job":"j1","kind":"job.state","seq":1,"t":1.25}')
    assert EventLog.parse_jsonl(text) == list(log)
    assert [e.seq for e in log] == [0, 1, 2]


def test_filter_by_kind_prefix_and_job() -> None:
    log = EventLog()
    log.append(0, "fault.preempt", job="j1")
    log.append(0, "fault.http")
    log.append(0, "faults.other", job="j1")
    log.append(0, "job.state", job="j2")
    assert [e.kind for e in log.filter("fault")] == ["fault.preempt", "fault.http"]
    assert [e.kind for e in log.filter(job="j1")] == ["fault.preempt", "faults.other"]
    assert log.filter("fault", job="j2") == []


def test_since_reads_incrementally_and_listeners_see_every_event() -> None:
    log = EventLog()
    seen: list[Event] = []
    log.subscribe(seen.append)
    log.append(0, "a")
    cursor = len(log)
    log.append(1, "b")
    log.append(2, "c")
    assert [e.kind for e in log.since(cursor)] == ["b", "c"]
    assert log.since(len(log)) == []
    assert [e.kind for e in seen] == ["a", "b", "c"]


def test_times_are_rounded_to_microseconds() -> None:
    log = EventLog()
    ev = log.append(0.1 + 0.2, "x")
    assert ev.t == 0.3
