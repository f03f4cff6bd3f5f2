"""Autopilot's reconcile step against a fake consensus: which gossip members join raft."""

from __future__ import annotations

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

    def is_leader(self) -> bool:
        return True

    def servers(self) -> list[ServerView]:
        return self.views

    async def add_nonvoter(self, server_id: str, address: str) -> None:
        self.added.append((server_id, address))


def server_member(name: str, server_id: str, status: MemberStatus) -> Member:
    return Member(name, "127.0.0.9", 8301, {"role": "consul", "dc": "dc1", "id": server_id,
                                            "port": "8300"}, status)


def autopilot(consensus: FakeConsensus, *members: Member) -> Autopilot:
    server = SimpleNamespace(
        consensus=consensus, store=SimpleNamespace(autopilot_config=None),
        config=SimpleNamespace(node_id="s0", datacenter="dc1", autopilot=AutopilotConfig()),
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
