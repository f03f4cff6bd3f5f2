"""The soak's lock-holder and write-survival checkers catch what they claim to."""

from __future__ import annotations

from tests.soak.checks import (
    CatalogPair,
    Hold,
    double_holders,
    lost_catalog_writes,
    lost_once_writes,
    resurrected_sessions,
)


def hold(session: str, ack: float, *reads: tuple[float, str, int], lock: str = "l") -> Hold:
    h = Hold(lock, session, ack)
    for invoke, holder, index in reads:
        if not h.confirm(invoke, holder, index):
            break
    return h


def test_holds_one_after_another_are_fine():
    holds = [hold("a", 1.0, (1.1, "a", 1), (1.5, "a", 1)),
             hold("b", 1.6, (1.7, "b", 2)),
             hold("c", 0.5, (1.2, "c", 7), lock="other")]
    assert double_holders(holds) == []


def test_overlapping_confirmed_holds_are_double_holders():
    holds = [hold("a", 1.0, (1.1, "a", 1), (2.0, "a", 1)),
             hold("b", 1.6, (1.7, "b", 2))]
    [problem] = double_holders(holds)
    assert "session a (LockIndex 1) confirmed holding at 2.000" in problem


def test_two_sessions_with_one_lock_index_are_double_holders():
    holds = [hold("a", 1.0, (1.1, "a", 3)), hold("b", 5.0, (5.1, "b", 3))]
    assert "both hold LockIndex 3" in double_holders(holds)[0]


def test_a_hold_lost_to_invalidation_ends_at_its_last_confirmation():
    lost = hold("a", 1.0, (1.1, "a", 1), (1.9, "", 1), (2.5, "a", 1))
    assert lost.lost and lost.interval == (1.0, 1.1)
    assert double_holders([lost, hold("b", 1.5, (1.6, "b", 2))]) == []


def test_unconfirmed_holds_are_not_judged():
    assert double_holders([hold("a", 1.0), hold("b", 1.0, (1.1, "b", 2))]) == []


def test_a_lock_index_moving_under_one_session_is_reported():
    moved = hold("a", 1.0, (1.1, "a", 1), (1.2, "a", 2))
    assert "LockIndex moved 1 -> 2" in double_holders([moved])[0]


def test_lost_writes():
    assert lost_once_writes({"k": "v", "j": "w"}, {"k": "v", "j": "x"}) == [
        "'j': acknowledged 'w', read back 'x'"]
    pairs = [CatalogPair("kept", "ok"), CatalogPair("gone", "ok", "ok"),
             CatalogPair("refused", "ok", "fail"), CatalogPair("maybe", "info", "ok")]
    assert lost_catalog_writes(pairs, {"kept", "refused", "maybe"}) == []
    assert len(lost_catalog_writes(pairs, {"gone"})) == 3
    assert resurrected_sessions({"s1", "s2"}, {"s2", "s3"}) == [
        "session s2: destroy acknowledged, still listed"]
