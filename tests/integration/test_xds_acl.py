"""The xDS stream's ``x-consul-token`` needs service:write on the proxy's service."""

from __future__ import annotations

import asyncio
import json
import tempfile

import grpc
import pytest
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2

from tests.support.agent_process import start_agent, wait_until

ROOT = "xds-acl-root-secret"
CDS = "type.googleapis.com/envoy.config.cluster.v3.Cluster"


@pytest.fixture(scope="module")
def agent():
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as config:
        json.dump({"acl": {"enabled": True, "default_policy": "deny",
                           "tokens": {"initial_management": ROOT, "agent": ROOT}}}, config)
    agent = start_agent("-config-file", config.name)
    root = {"X-Consul-Token": ROOT}
    try:
        wait_until(lambda: agent.get("/v1/connect/ca/roots", headers=root).json().get("Roots"),
                   what="CA roots")
        reply = agent.put("/v1/agent/service/register?token=" + ROOT, {
            "Name": "web", "Port": 8080, "Connect": {"SidecarService": {"Port": 21000}}})
        assert reply.status == 200, reply.text
        for name, rules in (("web", 'service "web" { policy = "write" }'),
                            ("other", 'service "other" { policy = "write" }')):
            policy = agent.put("/v1/acl/policy", {"Name": name, "Rules": rules}, headers=root)
            assert policy.status == 200, policy.text
            token = agent.put("/v1/acl/token", {"Policies": [{"Name": name}]}, headers=root)
            agent.tokens = {**getattr(agent, "tokens", {}), name: token.json()["SecretID"]}
        yield agent
    finally:
        agent.stop()


async def first_response(agent, token: str | None, proxy_id: str = "web-sidecar-proxy"):
    """The first CDS response of a delta stream, or the stream's error (code, details)."""
    async with grpc.aio.insecure_channel(f"{agent.host}:{agent.grpc_port}") as channel:
        stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
        metadata = [("x-consul-token", token)] if token is not None else []
        held = asyncio.Event()

        async def requests():  # as Envoy: one wildcard CDS request, then the stream stays open
            yield discovery_pb2.DeltaDiscoveryRequest(type_url=CDS, node={"id": proxy_id})
            await held.wait()

        call = stub.DeltaAggregatedResources(requests(), metadata=metadata)
        try:
            async with asyncio.timeout(20):
                return await anext(aiter(call))
        except grpc.aio.AioRpcError as err:
            return err.code(), err.details()


def test_no_token_is_denied(agent):
    code, details = asyncio.run(first_response(agent, None))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert "service:write" in details or "Permission denied" in details, details


def test_unknown_token_is_unauthenticated(agent):
    code, _ = asyncio.run(first_response(agent, "00000000-0000-0000-0000-000000000000"))
    assert code == grpc.StatusCode.UNAUTHENTICATED


def test_token_for_another_service_is_denied(agent):
    code, _ = asyncio.run(first_response(agent, agent.tokens["other"]))
    assert code == grpc.StatusCode.PERMISSION_DENIED


def test_token_with_service_write_gets_the_clusters(agent):
    response = asyncio.run(first_response(agent, agent.tokens["web"]))
    assert response.type_url == CDS
    assert "local_app" in [r.name for r in response.resources]
