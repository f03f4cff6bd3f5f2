"""AgentLookup's stale-read rules: allow_stale, and asking the leader when max_stale is exceeded."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from proconsul.agent.acl.tokens import TokenStore
from proconsul.agent.config.runtime import ACLTokens
from proconsul.agent.dns.lookup import AgentLookup, LookupFailed, NameNotFound
from proconsul.structs.errors import ConsulError
from proconsul.structs.requests import IndexedCheckServiceNodes


class RecordingAgent:
    """Answers every read with ``LastContact = last_contact`` ms and remembers the requests."""

    def __init__(self, last_contact: int = 0, error: str | None = None,
                 tokens: ACLTokens | None = None) -> None:
        self.config = SimpleNamespace(datacenter="dc1")
        self.tokens = TokenStore(tokens or ACLTokens())
        self.sent_tokens: list[str] = []
        self.last_contact = last_contact
        self.error = error
        self.stale_flags: list[bool] = []

    async def rpc(self, method, req):
        self.stale_flags.append(req.AllowStale)
        self.sent_tokens.append(req.Token)
        if self.error:
            raise ConsulError(self.error)
        return IndexedCheckServiceNodes(LastContact=self.last_contact if req.AllowStale else 0)


@pytest.mark.parametrize("allow_stale,last_contact,flags", [
    (True, 100, [True]),
    (True, 5000, [True, False]),  # too stale: asked again, of the leader
    (False, 5000, [False]),
])
async def test_stale_reads(allow_stale, last_contact, flags):
    agent = RecordingAgent(last_contact)
    await AgentLookup(agent, allow_stale, 1000).service_nodes("dc1", "web", "")
    assert agent.stale_flags == flags


@pytest.mark.parametrize("tokens,sent", [
    (ACLTokens(), ""), (ACLTokens(default="d"), "d"), (ACLTokens(default="d", dns="n"), "n")])
async def test_reads_carry_the_dns_token_else_the_default(tokens, sent):
    agent = RecordingAgent(tokens=tokens)
    await AgentLookup(agent, True, 1000).service_nodes("dc1", "web", "")
    assert agent.sent_tokens == [sent]


async def test_errors():
    lookup = AgentLookup(RecordingAgent(error="No cluster leader"), True, 1000)
    with pytest.raises(LookupFailed, match="No cluster leader"):
        await lookup.service_nodes("dc1", "web", "")
    lookup = AgentLookup(RecordingAgent(error="No path to datacenter"), True, 1000)
    with pytest.raises(NameNotFound, match="No path to datacenter"):
        await lookup.node("dc2", "n1")


async def test_another_datacenter_is_asked_through_the_servers():
    agent = RecordingAgent()
    requests = []
    rpc = agent.rpc

    async def recording(method, req):
        requests.append(req)
        return await rpc(method, req)

    agent.rpc = recording
    await AgentLookup(agent, True, 1000).service_nodes("dc2", "web", "")
    assert requests[0].Datacenter == "dc2"
