"""proxycfg's prepared-query source: polled through the agent cache, not a loop of its own."""

from __future__ import annotations

import pytest

from proconsul.agent.cache import Cache
from proconsul.agent.proxycfg import sources
from proconsul.agent.proxycfg.sources import Sources
from proconsul.structs.catalog import CheckServiceNode, Node, NodeService
from proconsul.structs.prepared_query import PreparedQueryExecuteResponse


def instance(node: str) -> CheckServiceNode:
    return CheckServiceNode(Node=Node(Node=node, Address="10.0.0.1"),
                            Service=NodeService(ID="api", Service="api", Port=8080), Checks=[])


class QueryServer:
    """PreparedQuery.Execute answering ``nodes``, in a new order and LastContact each time."""

    def __init__(self) -> None:
        self.nodes = [instance("a"), instance("b")]
        self.calls = []

    async def rpc(self, method: str, req):
        assert method == "PreparedQuery.Execute"
        self.calls.append((req.Datacenter, req.QueryIDOrName, req.Connect, req.Token))
        order = self.nodes if len(self.calls) % 2 else self.nodes[::-1]
        return PreparedQueryExecuteResponse(Service="api", Nodes=list(order),
                                            LastContact=len(self.calls))


@pytest.fixture
def no_poll_wait(monkeypatch):
    monkeypatch.setattr(sources, "QUERY_POLL", 0)


async def test_prepared_query_is_asked_again_and_its_index_moves_only_with_the_answer(
        no_poll_wait):
    server = QueryServer()
    cache = Cache(server.rpc)
    source = Sources(cache, leaf=None, datacenter="dc1")
    try:
        reply, index = await source.prepared_query("api-query", "dc2", "tok", 0)
        assert (reply.Service, index) == ("api", 1)
        for _ in range(3):  # reshuffled instances and a new LastContact: no change
            _, index = await source.prepared_query("api-query", "dc2", "tok", index)
            assert index == 1
        server.nodes = [instance("a")]
        reply, index = await source.prepared_query("api-query", "dc2", "tok", index)
        assert (len(reply.Nodes), index) == (1, 2)
        assert server.calls == [("dc2", "api-query", True, "tok")] * 5  # one RPC a poll
        assert len(cache) == 1  # one shared cache entry
    finally:
        await cache.stop()
