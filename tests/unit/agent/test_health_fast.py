"""The health query's short way answers plain reads itself and leaves the rest alone."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from proconsul.agent.http.health_fast import HealthFastPath
from proconsul.lib.httpserver.message import EncodedResponse, Headers, Request
from proconsul.server.server import Server, ServerConfig
from proconsul.structs.catalog import HealthCheck, NodeService, RegisterRequest
from proconsul.structs.messages import MessageType


@pytest.fixture
async def server():
    server = Server(ServerConfig())
    server.start()
    for i in range(2):
        await server.raft_apply(MessageType.REGISTER, RegisterRequest(
            Node=f"n{i}", Address=f"10.0.0.{i}",
            Service=NodeService(ID=f"web-{i}", Service="web", Tags=["t"] if i else None),
            Check=HealthCheck(Node=f"n{i}", CheckID=f"c{i}", Name="alive", Status="passing",
                              ServiceID=f"web-{i}")))
    yield server
    await server.stop()


def fast_path(server: Server, acl: bool = False) -> HealthFastPath:
    agent = SimpleNamespace(server=server, config=SimpleNamespace(acl=SimpleNamespace(
        enabled=acl)))
    return HealthFastPath(agent)  # type: ignore[arg-type]


def get(target: str, **headers: str) -> Request:
    return Request("GET", target.encode(), Headers(headers), b"")


async def test_a_plain_query_is_answered_from_the_store(server):
    fast = fast_path(server)
    for target in ("/v1/health/service/web", "/v1/health/service/web?stale"):
        reply = fast.get(get(target))
        assert isinstance(reply, EncodedResponse)
        head = reply.head.decode()
        assert head.startswith("HTTP/1.1 200 OK\r\n")
        assert f"X-Consul-Index: {server.store.service_index('web', checks=True)}\r\n" in head
        assert ("stale" if "stale" in target else "leader") in head
        assert f"Content-Length: {len(reply.body)}\r\n" in head
        assert [(n["Service"]["ID"], n["Service"]["Tags"]) for n in json.loads(reply.body)] \
            == [("web-0", []), ("web-1", ["t"])]
    assert json.loads(fast.get(get("/v1/health/service/absent")).body) == []


async def test_anything_else_is_left_to_the_general_path(server):
    fast = fast_path(server)
    for request in (get("/v1/health/service/web?passing"), get("/v1/health/service/web?dc=x"),
                    get("/v1/health/service/"), get("/v1/health/service/w%C3%A9b"),
                    get("/v1/health/service/web", **{"cache-control": "max-age=1"}),
                    get("/v1/health/service/web", authorization="Bearer x")):
        assert fast.get(request) is None
    assert fast_path(server, acl=True).get(get("/v1/health/service/web")) is None
