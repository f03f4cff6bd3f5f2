"""The agent's token resolver: TTL cache, revocation, down_policy modes, recovery token;
and the agent's token slots with persistence."""

from __future__ import annotations

import asyncio
import json

import pytest

from proconsul.agent.acl.resolver import AGENT_RECOVERY_ACCESSOR, AgentTokenResolver
from proconsul.agent.acl.tokens import TokenStore
from proconsul.agent.config.runtime import ACLConfig, ACLTokens
from proconsul.lib.acl.authorizer import ALLOW, DENY
from proconsul.rpc.errors import RPCError
from proconsul.server.acl.resolver import ACLNotFound
from proconsul.structs.acl import ACLPolicy, ACLToken
from proconsul.structs.acl_rpc import ACLTokenResponse
from proconsul.structs.errors import ConsulError, Forbidden

SECRET = "5e0b2c4a-1111-4222-8333-444444444444"
RULES = 'key_prefix "app/" { policy = "write" }'


class FakeServers:
    """Answers ACL.TokenRead like a server, or fails like an unreachable one."""

    def __init__(self) -> None:
        self.calls = 0
        self.down = False
        self.revoked = False
        self.gate: asyncio.Event | None = None

    async def rpc(self, method: str, req) -> ACLTokenResponse:
        assert method == "ACL.TokenRead" and req.TokenIDType == "secret"
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            raise ConsulError("No known Consul servers")
        if self.revoked or req.TokenID != SECRET:
            raise RPCError("token does not exist: ACL not found")
        return ACLTokenResponse(
            Token=ACLToken(AccessorID="a1", SecretID=SECRET),
            ExpandedPolicies=[ACLPolicy(ID="p", Name="app", Rules=RULES)])


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def resolver(servers: FakeServers, clock: Clock, down_policy: str = "extend-cache",
             **tokens) -> AgentTokenResolver:
    config = ACLConfig(enabled=True, default_policy="deny", down_policy=down_policy,
                       token_ttl=30.0, tokens=ACLTokens(**tokens))
    return AgentTokenResolver(config, "node1", TokenStore(config.tokens), servers.rpc,
                              clock=clock)


async def test_resolves_once_per_ttl_and_evicts_on_revocation():
    servers, clock = FakeServers(), Clock()
    acl = resolver(servers, clock)
    first = await acl.resolve(SECRET)
    assert first.accessor_id == "a1" and first.authorizer.key_write("app/x") is ALLOW
    assert first.authorizer.key_read("other") is DENY
    assert await acl.resolve(SECRET) is first and servers.calls == 1
    clock.now += 31
    servers.revoked = True
    with pytest.raises(ACLNotFound):
        await acl.resolve(SECRET)
    servers.revoked = False
    servers.down = True  # evicted: nothing to extend
    assert (await acl.resolve(SECRET)).authorizer.key_read("app/x") is DENY


async def test_unknown_token_is_acl_not_found_not_an_outage():
    acl = resolver(FakeServers(), Clock(), down_policy="allow")
    with pytest.raises(Forbidden, match="ACL not found"):
        await acl.resolve("f00d0000-0000-4000-8000-000000000000")


@pytest.mark.parametrize(("down_policy", "cached", "key_write", "acl_read"), [
    ("allow", True, ALLOW, DENY),          # allow all but ACL management
    ("deny", True, DENY, DENY),
    ("extend-cache", True, ALLOW, DENY),   # the expired entry keeps working
    ("extend-cache", False, DENY, DENY),   # no entry: the default policy (deny)
    ("async-cache", False, DENY, DENY),
])
async def test_down_policy_modes(down_policy, cached, key_write, acl_read):
    servers, clock = FakeServers(), Clock()
    acl = resolver(servers, clock, down_policy=down_policy)
    if cached:
        await acl.resolve(SECRET)
        clock.now += 31
    servers.down = True
    resolved = await acl.resolve(SECRET)
    assert resolved.authorizer.key_write("app/x") is key_write
    assert resolved.authorizer.acl_read() is acl_read


async def yield_until(condition) -> None:
    for _ in range(100):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


async def test_async_cache_answers_from_the_stale_entry_and_refreshes_behind():
    servers, clock = FakeServers(), Clock()
    acl = resolver(servers, clock, down_policy="async-cache")
    first = await acl.resolve(SECRET)
    clock.now += 31
    servers.gate = asyncio.Event()
    assert await acl.resolve(SECRET) is first  # at once, while the refresh waits
    assert await acl.resolve(SECRET) is first  # one refresh at a time
    await yield_until(lambda: servers.calls == 2)
    servers.gate.set()
    await yield_until(lambda: not acl._refreshing)
    refreshed = await acl.resolve(SECRET)
    assert refreshed is not first and servers.calls == 2


async def test_agent_recovery_token_works_without_servers():
    servers = FakeServers()
    servers.down = True
    acl = resolver(servers, Clock(), agent_recovery="recover")
    resolved = await acl.resolve("recover")
    assert resolved.accessor_id == AGENT_RECOVERY_ACCESSOR
    assert resolved.authorizer.agent_write("node1") is ALLOW
    assert resolved.authorizer.agent_write("node2") is DENY and servers.calls == 0


async def test_acls_disabled_allow_everything():
    acl = AgentTokenResolver(ACLConfig(), "n", TokenStore(ACLTokens()), FakeServers().rpc)
    assert (await acl.resolve("")).authorizer.acl_write() is ALLOW


def test_token_slots_persist_and_override_config(tmp_path):
    store = TokenStore(ACLTokens(default="cfg"), str(tmp_path), persist=True)
    assert store.default == "cfg" and store.agent == "cfg"
    store.set("agent", "a")
    store.set("dns", "d")
    assert json.loads((tmp_path / "acl-tokens.json").read_text()) == {
        "default": "cfg", "agent": "a", "dns": "d"}
    again = TokenStore(ACLTokens(default="cfg", agent="other"), str(tmp_path), persist=True)
    assert (again.agent, again.get("dns")) == ("a", "d")
    off = TokenStore(ACLTokens(agent="other"), str(tmp_path), persist=False)
    assert off.agent == "other"


def test_reload_takes_config_tokens_but_keeps_api_set_ones():
    store = TokenStore(ACLTokens(default="d1", agent="a1"))
    store.set("agent", "from-api")
    store.reload(ACLTokens(default="d2", agent="a2", dns="n2"))
    assert (store.default, store.agent, store.get("dns")) == ("d2", "from-api", "n2")
