"""Autopilot's reconcile step against a fake consensus: which gossip members join raft."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from proconsul.agent.gossip import member_state
from proconsul.gossip.serf import Member, MemberStatus
from proconsul.raft.node import ServerView
from proconsul.server.autopilot import Autopilot
from proconsul.structs.operator import AutopilotConfig


class FakeConsensus:
    """A leader whose configuration is ``views``; records the changes asked of it."""

    def __init__(self, *views: ServerView) -> None:
        self.views = list(views)
        self.added: list[tuple[str, str]] = []
        self.removed: list[str] = []
        self.passes = 0  # reconcile passes begun (each asks is_leader first)
        self.passed = asyncio.Event()

    def is_leader(self) -> bool:
        self.passes += 1
        self.passed.set()
        return True

    def servers(self) -> list[ServerView]:
        return self.views

    def leader_address(self) -> str:
        return self.views[0].address

    def last_index(self) -> int:
        return 1

    def term(self) -> int:
        return 1

    async def add_nonvoter(self, server_id: str, address: str) -> None:
        self.added.append((server_id, address))

    async def remove_server(self, server_id: str, timeout: float | None = None) -> None:
        self.removed.append(server_id)

    async def wait_passes(self, count: int) -> None:
        """Until ``count`` passes have run (this fake never suspends, so a pass that
        has begun has ended by the time the waiter runs)."""
        while self.passes < count:
            self.passed.clear()
            await asyncio.wait_for(self.passed.wait(), 5)


def server_member(name: str, server_id: str, status: MemberStatus) -> Member:
    return Member(name, "127.0.0.9", 8301, {"role": "consul", "dc": "dc1", "id": server_id,
                                            "port": "8300"}, status)


def autopilot(consensus: FakeConsensus, *members: Member) -> Autopilot:
    server = SimpleNamespace(
        consensus=consensus, store=SimpleNamespace(autopilot_config=None),
        config=SimpleNamespace(node_id="s0", node_name="s0", datacenter="dc1",
                               autopilot=AutopilotConfig()),
        lan_members=lambda: [member_state(m) for m in members])
    return Autopilot(server)


async def test_an_alive_server_outside_the_configuration_joins_as_a_non_voter() -> None:
    consensus = FakeConsensus(ServerView("s0", "127.0.0.8:8300", True, 0.0, 1))
    assert await autopilot(consensus, server_member("s2", "s2", MemberStatus.ALIVE)).reconcile()
    assert consensus.added == [("s2", "127.0.0.9:8300")]


async def test_a_leaving_server_is_not_added_back() -> None:
    # The leader that just removed itself from the configuration, seen while it leaves.
    consensus = FakeConsensus(ServerView("s0", "127.0.0.8:8300", True, 0.0, 1))
    pilot = autopilot(consensus, server_member("s2", "s2", MemberStatus.LEAVING))
    assert not await pilot.reconcile()
    assert consensus.added == []


async def test_a_failed_voter_is_pruned_on_the_periodic_pass_not_on_the_failure() -> None:
    voters = [ServerView(f"s{i}", f"127.0.0.{8 + i}:8300", True, 0.0, 1) for i in range(3)]
    consensus = FakeConsensus(*voters)
    s2 = server_member("s2", "s2", MemberStatus.ALIVE)
    pilot = autopilot(consensus, server_member("s1", "s1", MemberStatus.ALIVE), s2)
    task = asyncio.create_task(pilot.run())
    try:
        await consensus.wait_passes(1)  # the first, periodic pass: nothing dead yet
        s2.status = MemberStatus.FAILED  # as gossip reports a kill -9
        pilot.notify()
        await consensus.wait_passes(2)
        # Consul's raft-autopilot prunes on its reconcile interval (or when a server
        # joins): a server restarted within it comes back still a voter.
        assert consensus.removed == []
        assert await pilot.reconcile(prune=True)
        assert consensus.removed == ["s2"]  # what the periodic pass will do
    finally:
        task.cancel()
