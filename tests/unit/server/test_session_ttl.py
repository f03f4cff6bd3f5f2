"""Session TTL timers on the leader: expiry after TTL x 2, renewal pushes it back."""

from __future__ import annotations

import asyncio

from proconsul.server.server import Server, ServerConfig
from proconsul.structs.requests import SessionSpecificRequest
from proconsul.structs.session import Session, SessionRequest


async def started_server() -> Server:
    server = Server(ServerConfig(node_name="n1", session_ttl_min_ns=50_000_000))
    server.start()
    await asyncio.wait_for(_until(lambda: server.store.nodes.get("n1") is not None), 5)
    return server


async def _until(predicate) -> None:
    while not predicate():
        await asyncio.sleep(0.005)


async def create(server: Server, ttl: str) -> str:
    return await server.rpc("Session.Apply", SessionRequest(
        Op="create", Session=Session(Node="n1", TTL=ttl, NodeChecks=["serfHealth"])))


async def wait_gone(server: Server, session_id: str, timeout: float) -> None:
    index = 0
    while True:
        reply = await asyncio.wait_for(server.rpc("Session.Get", SessionSpecificRequest(
            SessionID=session_id, MinQueryIndex=index, MaxQueryTime=int(timeout * 1e9))),
            timeout + 1)
        if not reply.Sessions:
            return
        index = reply.Index


async def test_ttl_session_expires_after_twice_its_ttl():
    server = await started_server()
    loop = asyncio.get_running_loop()
    started = loop.time()
    session_id = await create(server, "100ms")
    await wait_gone(server, session_id, 5)
    assert loop.time() - started >= 0.2
    assert len(server.session_timers) == 0
    await server.stop()


async def test_renew_postpones_expiry():
    server = await started_server()
    loop = asyncio.get_running_loop()
    session_id = await create(server, "200ms")
    started = loop.time()
    for _ in range(4):
        await asyncio.sleep(0.15)
        reply = await server.rpc("Session.Renew", SessionSpecificRequest(SessionID=session_id))
        assert reply.Sessions, "session expired although renewed"
    await wait_gone(server, session_id, 5)
    assert loop.time() - started >= 0.6 + 0.4
    await server.stop()


async def test_session_without_ttl_has_no_timer():
    server = await started_server()
    await create(server, "")
    assert len(server.session_timers) == 0
    await server.stop()
