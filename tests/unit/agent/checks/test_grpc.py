"""gRPC checks against a real grpc.aio server with the standard health service."""

from __future__ import annotations

import socket

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from proconsul.agent.checks import CheckDefinition, make_runner

from .conftest import SERVER_NAME, free_port


@pytest.fixture
async def grpc_server(cert):
    server = grpc.aio.server()
    servicer = health.aio.HealthServicer()
    await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    await servicer.set("svc-ok", health_pb2.HealthCheckResponse.SERVING)
    await servicer.set("svc-down", health_pb2.HealthCheckResponse.NOT_SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    plain = server.add_insecure_port("127.0.0.1:0")
    cert_pem, key_pem = cert.pem()
    tls = server.add_secure_port(
        "127.0.0.1:0", grpc.ssl_server_credentials([(key_pem, cert_pem)]))
    await server.start()
    yield {"plain": f"127.0.0.1:{plain}", "tls": f"127.0.0.1:{tls}", "servicer": servicer}
    await server.stop(None)


async def probe(rec, ca_file=None, **fields):
    runner = make_runner(CheckDefinition(CheckID="g", Interval="10s", **fields), rec,
                         enable_script_checks=False, ca_file=ca_file)
    await runner.probe()
    await runner.stop()
    return rec.last


async def test_serving_is_passing(rec, grpc_server):
    target = grpc_server["plain"]
    assert await probe(rec, GRPC=target) == ("passing", f"gRPC check {target}: success")
    target += "/svc-ok"
    assert await probe(rec, GRPC=target) == ("passing", f"gRPC check {target}: success")


async def test_not_serving_is_critical(rec, grpc_server):
    target = grpc_server["plain"] + "/svc-down"
    assert await probe(rec, GRPC=target) == (
        "critical", f"gRPC {target} serving status: NOT_SERVING")


async def test_status_changes_are_seen(rec, grpc_server):
    target = grpc_server["plain"] + "/svc-ok"
    runner = make_runner(CheckDefinition(CheckID="g", GRPC=target, Interval="10s"), rec,
                         enable_script_checks=False)
    await runner.probe()
    await grpc_server["servicer"].set("svc-ok", health_pb2.HealthCheckResponse.NOT_SERVING)
    await runner.probe()
    assert [status for status, _ in rec.all] == ["passing", "critical"]


async def test_unknown_service_is_critical(rec, grpc_server):
    status, output = await probe(rec, GRPC=grpc_server["plain"] + "/nope")
    assert status == "critical"
    assert output.startswith("rpc error: code = NotFound desc = ")


async def test_unreachable_is_critical(rec):
    status, output = await probe(rec, GRPC=f"127.0.0.1:{free_port(socket.SOCK_STREAM)}",
                                 Timeout="2s")
    assert status == "critical"
    assert output.startswith("rpc error: code = Unavailable desc = ")


async def test_tls_with_agent_ca_and_server_name(rec, grpc_server, cert):
    target = grpc_server["tls"]
    assert await probe(rec, GRPC=target, GRPCUseTLS=True, TLSServerName=SERVER_NAME,
                       ca_file=cert.cert_file) == ("passing", f"gRPC check {target}: success")
    # Untrusted certificate: critical.
    status, _ = await probe(rec, GRPC=target, GRPCUseTLS=True, TLSServerName=SERVER_NAME,
                            Timeout="2s")
    assert status == "critical"
    # Plaintext against the TLS port: critical.
    status, _ = await probe(rec, GRPC=target, Timeout="2s")
    assert status == "critical"


async def test_tls_skip_verify(rec, grpc_server):
    target = grpc_server["tls"] + "/svc-ok"
    assert await probe(rec, GRPC=target, GRPCUseTLS=True, TLSSkipVerify=True) == (
        "passing", f"gRPC check {target}: success")
