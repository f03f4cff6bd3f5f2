"""A gRPC service (protocol grpc): HTTP/2 end to end through both Envoys."""

from __future__ import annotations

from concurrent import futures

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from tests.support.agent_process import free_port, start_agent, wait_until
from tests.support.envoy import EnvoyGroup
from tests.support.mesh import PASSING, Mesh


@pytest.fixture(scope="module")
def mesh():
    agent = start_agent()
    mesh = Mesh(agent, EnvoyGroup())
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    servicer = health.HealthServicer()
    servicer.set("api", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    app_port = server.add_insecure_port(f"{agent.host}:0")
    server.start()
    try:
        wait_until(lambda: agent.get("/v1/connect/ca/roots").json().get("Roots"),
                   what="CA roots")
        mesh.config_entry({"Kind": "service-defaults", "Name": "api", "Protocol": "grpc"})
        mesh.web_upstream = free_port(agent.host)
        for name, port, upstreams in (("api", app_port, None), ("web", 1, [{
                "DestinationName": "api", "LocalBindAddress": agent.host,
                "LocalBindPort": mesh.web_upstream}])):
            proxy = {"LocalServiceAddress": agent.host, **(
                {"Upstreams": upstreams} if upstreams else {})}
            mesh.sidecar_ports[name] = free_port(agent.host)
            reply = agent.put("/v1/agent/service/register", {
                "Name": name, "Port": port, "Address": agent.host, "Connect": {
                    "SidecarService": {"Port": mesh.sidecar_ports[name], "Address": agent.host,
                                       "Checks": PASSING, "Proxy": proxy}}})
            assert reply.status == 200, reply.text
            mesh.start_sidecar(name)
        yield mesh
    finally:
        mesh.stop()
        server.stop(0)


def test_grpc_call_through_the_mesh(mesh):
    def check() -> int:
        with grpc.insecure_channel(f"{mesh.host}:{mesh.web_upstream}") as channel:
            try:
                return health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service="api"), timeout=3).status
            except grpc.RpcError:
                return -1

    wait_until(lambda: check() == health_pb2.HealthCheckResponse.SERVING, 20,
               what="a gRPC call through web's and api's Envoys")
    stats = mesh.proxies["api"].stats("http.public_listener.downstream_cx_http2_total")
    assert int(next(iter(stats.values()))) >= 1  # HTTP/2 between the two Envoys
