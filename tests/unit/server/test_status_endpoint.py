"""Status.Peers answers with the whole raft configuration, as Consul's does."""

from __future__ import annotations

from types import SimpleNamespace

from proconsul.raft.node import ServerView
from proconsul.server.endpoints.status import Status


class Consensus:
    """The membership half of the consensus interface: a fixed configuration."""

    def __init__(self, servers: list[ServerView]) -> None:
        self._servers = servers

    def servers(self) -> list[ServerView]:
        return self._servers

    def peers(self) -> list[str]:
        return [s.address for s in self._servers if s.voter]


async def test_peers_lists_non_voters_too() -> None:
    configuration = [ServerView("a", "127.0.0.1:8300", True, 0.0, 9),
                     ServerView("b", "127.0.0.2:8300", True, 0.1, 9),
                     ServerView("c", "127.0.0.3:8300", False, 0.1, 3)]
    status = Status(SimpleNamespace(consensus=Consensus(configuration)))
    assert await status.Peers(None) == ["127.0.0.1:8300", "127.0.0.2:8300", "127.0.0.3:8300"]
