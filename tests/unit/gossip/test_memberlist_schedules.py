"""Invariants of the memberlist core over many random schedules (seeded, virtual time)."""

import random

import pytest

from proconsul.gossip.memberlist import Memberlist, MemberlistConfig
from proconsul.gossip.wire import NodeState

from .sim import SimNetwork

SCHEDULES = 150


def run_schedule(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randint(3, 8)
    loss = rng.choice([0.0, 0.02, 0.1])
    net = SimNetwork(seed=seed, loss=loss, latency=rng.uniform(0.001, 0.02))
    nodes = []
    for i in range(n):
        cfg = MemberlistConfig.lan(f"n{i}", bind_addr=f"10.0.0.{i + 1}")
        nodes.append(net.add(Memberlist(cfg, rng=random.Random(seed * 31 + i))))
    for node in nodes[1:]:
        node.join([rng.choice(nodes[: nodes.index(node)]).address], net.now)
        net.pump(node)
    net.run_for(rng.uniform(5, 15))

    live = list(nodes)
    killed, left = [], []
    for _ in range(rng.randint(0, n - 2)):
        victim = rng.choice(live[1:])
        live.remove(victim)
        if rng.random() < 0.5:
            net.kill(victim)
            killed.append(victim)
        else:
            victim.leave(net.now)
            net.pump(victim)
            left.append(victim)
        net.run_for(rng.uniform(0, 3))
    # Let leave broadcasts drain before the leavers go silent.
    net.run_for(3.0)
    for victim in left:
        net.kill(victim)
    net.loss = 0.0

    def settled() -> bool:
        for observer in live:
            for other in live:
                if observer.nodes.get(other.name) is None \
                        or observer.nodes[other.name].state != NodeState.ALIVE:
                    return False
            for other in killed + left:
                record = observer.nodes.get(other.name)
                if record is not None and not record.dead_or_left():
                    return False
        return True

    assert net.run_until_true(settled, 120.0), f"seed {seed} did not settle"
    # Without loss every leave broadcast arrives before a suspicion could expire,
    # so graceful leavers are LEFT (or forgotten), never DEAD.  With loss a
    # leave can legitimately be missed and the node times out as DEAD instead.
    for observer in live if loss == 0 else []:
        for other in left:
            record = observer.nodes.get(other.name)
            assert record is None or record.state == NodeState.LEFT, (seed, other.name)
    # Incarnations only ever move forward: everyone agrees with each node's own number.
    for observer in live:
        for other in live:
            assert observer.nodes[other.name].incarnation == other.local_node().incarnation


@pytest.mark.parametrize("seed", range(SCHEDULES))
def test_random_schedule_converges(seed):
    run_schedule(seed)
