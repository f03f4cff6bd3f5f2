"""The leader's member reconciler against a fake consensus: servers that left leave raft."""

from __future__ import annotations

from types import SimpleNamespace

from proconsul.raft.node import ServerView
from proconsul.server.reconcile import MemberReconciler, MemberState


class FakeConsensus:
    def __init__(self, *views: ServerView) -> None:
        self.views = list(views)
        self.removed: list[str] = []

    def servers(self) -> list[ServerView]:
        return self.views

    def peers(self) -> list[str]:
        return [view.address for view in self.views if view.voter]

    async def remove_server(self, server_id: str, timeout: float | None = None) -> None:
        self.removed.append(server_id)


async def test_a_non_voter_that_left_is_removed_from_raft() -> None:
    # s2 was added back as a non-voter while it was leaving; now it has left.
    consensus = FakeConsensus(ServerView("s0", "127.0.0.8:8300", True, 0.0, 1),
                              ServerView("s2", "127.0.0.9:8300", False, 0.0, 1))
    server = SimpleNamespace(consensus=consensus, store=SimpleNamespace(nodes={}),
                             config=SimpleNamespace(node_name="s0", datacenter="dc1"))
    left = MemberState("s2", "127.0.0.9", {"role": "consul", "id": "s2", "port": "8300"},
                       "left")
    await MemberReconciler(server).reconcile(left)
    assert consensus.removed == ["s2"]
