"""Status.Peers answers with the whole raft configuration, as Consul's does."""

from __future__ import annotations

from types import SimpleNamespace

from proconsul.raft.node import ServerView
from proconsul.server.endpoints.status import Status


async def test_peers_lists_non_voters_too() -> None:
    views = [ServerView("s0", "127.0.0.8:8300", True, 0.0, 9),
             ServerView("s1", "127.0.0.9:8300", False, 0.0, 9)]  # awaiting promotion
    consensus = SimpleNamespace(servers=lambda: views, peers=lambda: ["127.0.0.8:8300"])
    status = Status(SimpleNamespace(consensus=consensus))
    assert await status.Peers(None) == ["127.0.0.8:8300", "127.0.0.9:8300"]
