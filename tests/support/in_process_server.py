"""In-process servers for RPC endpoint tests: :func:`acl_server` starts one with ACLs on
(default deny, management token :data:`ROOT`); the helpers those tests share."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from proconsul.server.server import Server, ServerConfig
from proconsul.structs.acl import ACLLink, ACLPolicy, ACLToken
from proconsul.structs.acl_rpc import ACLPolicySetRequest, ACLTokenSetRequest

ROOT = "root"


async def wait_for(condition: Callable[[], object], timeout: float = 5.0) -> None:
    """Until ``condition()`` holds (in-process state: checked every 10 ms)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def acl_server() -> AsyncIterator[Server]:
    """A started server whose management token :data:`ROOT` resolves; stopped on exit."""
    server = Server(ServerConfig(acl_enabled=True, acl_default_policy="deny",
                                 acl_initial_management=ROOT))
    server.start()
    try:
        await wait_for(lambda: server.store.acl_tokens.has("secret", ROOT))
        yield server
    finally:
        await server.stop()


async def write_policy(server: Server, name: str, rules: str) -> ACLPolicy:
    return await server.rpc("ACL.PolicySet", ACLPolicySetRequest(
        Policy=ACLPolicy(Name=name, Rules=rules), Token=ROOT))


async def make_token(server: Server, name: str, rules: str) -> str:
    """The SecretID of a new token whose one policy ``name`` holds ``rules``."""
    policy = await write_policy(server, name, rules)
    made = await server.rpc("ACL.TokenSet", ACLTokenSetRequest(
        ACLToken=ACLToken(Policies=[ACLLink(ID=policy.ID)]), Create=True, Token=ROOT))
    return made.SecretID
