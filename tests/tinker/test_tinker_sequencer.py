"""seq_id ordering, idempotent repeats and gap timeouts, on an injected clock."""

from __future__ import annotations

import pytest

from drydock.emulator.dialects.fireworks.tinker import Sequencer
from drydock.emulator.errors import InvalidArgument


def _seq(timeout: float = 5.0):
    now = [0.0]
    return Sequencer(timeout, lambda: now[0]), now


def test_ops_are_released_in_order_whatever_order_they_arrive_in():
    s, _ = _seq()
    assert s.accept(3, "c", "r3") == []
    assert s.accept(2, "b", "r2") == []
    assert s.accept(1, "a", "r1") == ["a", "b", "c"]
    assert s.next_seq == 4 and s.seconds_left() is None


def test_a_rejected_op_consumes_its_slot_and_repeats_return_the_first_outcome():
    s, _ = _seq()
    err = InvalidArgument("bad body")
    assert s.accept(2, "b", "r2") == []
    assert s.accept(1, None, err) == ["b"]  # seq 1 was rejected: seq 2 runs
    assert s.outcome(1) is err and s.outcome(2) == "r2" and s.outcome(3) is None
    with pytest.raises(InvalidArgument, match="seq_id 1 of model m was already used"):
        s.accept(1, "again", "r1b", "model m")


@pytest.mark.parametrize("bad", [0, -1, True, "1", 1.0, None])
def test_seq_ids_must_be_positive_integers(bad):
    with pytest.raises(InvalidArgument, match="seq_id must be a positive integer"):
        Sequencer.check(bad)


def test_a_gap_expires_after_the_timeout_on_the_injected_clock():
    s, now = _seq(timeout=5.0)
    now[0] = 10.0
    s.accept(3, "c", "r3")
    s.accept(4, "d", "r4")
    now[0] = 14.0
    assert s.seconds_left() == pytest.approx(1.0)
    assert s.expire() == []  # not yet
    now[0] = 15.0
    gone = s.expire()
    assert [(g.seq, g.item, g.missing) for g in gone] == [(3, "c", 1), (4, "d", 1)]
    # the sequence goes on after the expired ops; the missing ones are spent
    assert s.next_seq == 5 and s.seconds_left() is None
    assert s.accept(5, "e", "r5") == ["e"]
    with pytest.raises(InvalidArgument):
        s.accept(1, "late", "r1")


def test_the_gap_clock_restarts_when_a_gap_closes_and_another_opens():
    s, now = _seq(timeout=5.0)
    s.accept(2, "b", "r2")          # gap opens at t=0
    now[0] = 4.0
    assert s.accept(1, "a", "r1") == ["a", "b"]  # closed in time
    s.accept(4, "d", "r4")          # a new gap opens at t=4
    now[0] = 8.0
    assert s.expire() == [] and s.seconds_left() == pytest.approx(1.0)
