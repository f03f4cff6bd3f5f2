"""ports.grpc_tls: ADS over TLS with the tls.grpc certificate (and client certs when asked)."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

import grpc
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2

from tests.support.agent_process import free_port, next_loopback, start_agent
from tests.support.certs import write_test_pki

CDS = "type.googleapis.com/envoy.config.cluster.v3.Cluster"


async def first_cds(target: str, credentials) -> object:
    async with grpc.aio.secure_channel(target, credentials) as channel:
        stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
        held = asyncio.Event()

        async def requests():
            yield discovery_pb2.DeltaDiscoveryRequest(type_url=CDS,
                                                      node={"id": "web-sidecar-proxy"})
            await held.wait()

        async with asyncio.timeout(20):
            try:
                return await anext(aiter(stub.DeltaAggregatedResources(requests())))
            except grpc.aio.AioRpcError as err:
                return err.code()


def test_grpc_tls_serves_ads_and_checks_client_certificates(tmp_path: Path):
    host = next_loopback()
    pki = write_test_pki(tmp_path, "server.dc1.consul", (host,))
    port = free_port(host)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as config:
        json.dump({"ports": {"grpc_tls": port}, "tls": {"grpc": {
            "cert_file": str(pki / "server.pem"), "key_file": str(pki / "server.pem"),
            "ca_file": str(pki / "ca.pem"), "verify_incoming": True}}}, config)
    agent = start_agent("-config-file", config.name, host=host)
    try:
        assert agent.get("/v1/agent/self").json()["xDS"]["Port"] == port
        reply = agent.put("/v1/agent/service/register", {
            "Name": "web", "Port": 8080, "Connect": {"SidecarService": {"Port": 21000}}})
        assert reply.status == 200
        ca = (pki / "ca.pem").read_bytes()
        client = (pki / "client.pem").read_bytes()
        good = grpc.ssl_channel_credentials(ca, private_key=client, certificate_chain=client)
        response = asyncio.run(first_cds(f"{host}:{port}", good))
        assert "local_app" in [r.name for r in response.resources]
        # without a client certificate the handshake fails: verify_incoming
        code = asyncio.run(first_cds(f"{host}:{port}", grpc.ssl_channel_credentials(ca)))
        assert code == grpc.StatusCode.UNAVAILABLE
    finally:
        agent.stop()
