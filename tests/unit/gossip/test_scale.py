"""Invariants of the scale simulation (``scale.py``) at CI-sized clusters, on virtual time."""

import pytest

from proconsul.gossip.memberlist import MemberlistConfig

from .scale import (
    epidemic_hops,
    expected_spread_s,
    form,
    measure_convergence,
    measure_detection,
    measure_false_positives,
)


def test_everyone_converges_and_one_join_spreads_in_log_rounds():
    cluster, conv = measure_convergence(64, seed=3)
    assert conv.formation_s is not None
    assert cluster.census.views == 65 * 65
    assert conv.join_all_s is not None
    # O(log N): within twice the push-epidemic estimate.
    assert conv.join_all_s <= 2 * expected_spread_s(epidemic_hops(65, conv.fanout),
                                                    conv.gossip_interval)


@pytest.mark.parametrize("lifeguard", [True, False])
def test_crashed_node_is_declared_dead_by_all_within_the_suspicion_bounds(lifeguard):
    cluster, formation = form(40, seed=5, lifeguard=lifeguard)
    assert formation is not None
    det = measure_detection(cluster)
    assert det.all_dead_s is not None
    assert det.first_dead_s >= det.min_timeout
    # Detected by a probe within a few intervals, then at most the longest timeout.
    assert det.all_dead_s <= det.max_timeout + 4 * det.probe_interval
    if not lifeguard:
        assert det.max_timeout == det.min_timeout


def test_a_crashed_process_on_a_live_host_still_gets_the_full_suspicion_timeout():
    # Port unreachable only speeds up the failed probe; nobody may skip suspicion.
    cluster, formation = form(40, seed=5)
    assert formation is not None
    det = measure_detection(cluster, host_up=True)
    assert det.all_dead_s is not None and det.first_dead_s >= det.min_timeout
    assert det.all_dead_s <= det.max_timeout + 4 * det.probe_interval


def test_no_false_positives_under_ten_percent_loss_with_lifeguard():
    fp = measure_false_positives("loss", 32, seed=7, lifeguard=True, seconds=30.0)
    assert fp.converged
    assert (fp.suspicions, fp.deaths) == (0, 0)


def test_udp_only_loss_causes_suspicions_that_are_all_refuted():
    fp = measure_false_positives("loss-udp", 32, seed=7, lifeguard=True, seconds=30.0)
    assert fp.converged
    assert fp.suspicions > 0  # without the TCP fallback, lost probes do cause suspicions
    assert fp.deaths == 0 and fp.refutations > 0


def test_lifeguard_cuts_false_positives_caused_by_a_stalled_node():
    on = measure_false_positives("stall", 32, seed=11, lifeguard=True, seconds=30.0)
    off = measure_false_positives("stall", 32, seed=11, lifeguard=False, seconds=30.0)
    assert on.converged and off.converged
    assert off.suspicions > 0  # the scenario does hurt plain SWIM
    assert on.suspicions + on.deaths <= off.suspicions + off.deaths


def test_without_lifeguard_awareness_stays_zero():
    assert MemberlistConfig.lan("a").lifeguard
    cluster, formation = form(4, seed=2, lifeguard=False, disable_tcp_pings=True)
    assert formation is not None
    prober = cluster.nodes[0]
    for node in cluster.nodes[1:]:
        cluster.net.kill(node)  # no relay can nack: with Lifeguard the prober would blame itself
    cluster.net.run_for(10.0)
    assert prober.awareness.score == 0
    assert set(prober.stats.suspected) == {n.name for n in cluster.nodes[1:]}
