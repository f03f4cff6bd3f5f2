"""``Expose.Paths``: a health path reachable in plaintext beside the mTLS public listener."""

from __future__ import annotations

import json

import pytest

from tests.support.agent_process import free_port, wait_until
from tests.support.envoy import AppServer, http_get, plain_connection_refused
from tests.support.mesh import start_mesh


@pytest.fixture(scope="module")
def mesh():
    mesh = start_mesh("tcp")
    yield mesh
    mesh.stop()


def test_exposed_paths_reach_the_app_and_nothing_else(mesh):
    metrics_app = AppServer(mesh.host, "metrics")  # a path served on another local port
    mesh.apps.append(metrics_app)
    health_port, metrics_port = free_port(mesh.host), free_port(mesh.host)
    current = mesh.agent.get("/v1/agent/service/api-sidecar-proxy").json()
    body = {k: current[k] for k in ("ID", "Kind", "Port", "Address")}
    body["Name"] = current["Service"]
    body["Proxy"] = {**current["Proxy"], "Expose": {"Paths": [
        {"Path": "/health", "ListenerPort": health_port, "LocalPathPort": current["Proxy"][
            "LocalServicePort"]},
        {"Path": "/metrics", "ListenerPort": metrics_port,
         "LocalPathPort": metrics_app.port}]}}
    assert mesh.agent.put("/v1/agent/service/register", body).status == 200
    wait_until(lambda: http_get(mesh.host, health_port, "/health") == (200, "api /health"),
               10, what="the exposed /health")
    assert http_get(mesh.host, health_port, "/secret")[0] == 404
    assert http_get(mesh.host, metrics_port, "/metrics") == (200, "metrics /metrics")
    # the public listener still wants mTLS, and traffic through the mesh still flows
    assert plain_connection_refused(mesh.host, mesh.sidecar_ports["api"])
    assert mesh.get("/x") == (200, "api /x")


def test_mesh_entry_tls_minimum_reaches_both_sides(mesh):
    def handshakes(version: str) -> int:
        stats = mesh.proxies["api"].stats("ssl.versions")
        return sum(int(v) for k, v in stats.items() if k.endswith(f"ssl.versions.{version}"))

    before = handshakes("TLSv1.3")
    mesh.config_entry({"Kind": "mesh", "TLS": {"Incoming": {"TLSMinVersion": "TLSv1_3"},
                                                "Outgoing": {"TLSMinVersion": "TLSv1_3"}}})
    wait_until(lambda: '"TLSv1_3"' in json.dumps(mesh.proxies["api"].config_dump()), 10,
               what="api's Envoy to take the mesh TLS minimum")
    wait_until(lambda: mesh.get("/tls13") == (200, "api /tls13") and
               handshakes("TLSv1.3") > before, 10, what="a TLS 1.3 connection web -> api")
