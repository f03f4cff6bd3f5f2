"""A prepared-query upstream: its own listener and a ``<q>.default.<dc>.query.<td>`` cluster."""

from __future__ import annotations

import pytest

from tests.support.agent_process import free_port, wait_until
from tests.support.envoy import http_get
from tests.support.mesh import start_mesh


@pytest.fixture(scope="module")
def mesh():
    mesh = start_mesh("tcp")
    yield mesh
    mesh.stop()


def test_prepared_query_upstream_reaches_the_query_result(mesh):
    reply = mesh.agent.call("POST", "/v1/query",
                            {"Name": "api-query", "Service": {"Service": "api"}})
    assert reply.status == 200, reply.text
    port = free_port(mesh.host)
    current = mesh.agent.get("/v1/agent/service/web-sidecar-proxy").json()
    body = {k: current[k] for k in ("ID", "Kind", "Port", "Address")}
    body["Name"] = current["Service"]
    body["Proxy"] = {**current["Proxy"], "Upstreams": [*current["Proxy"]["Upstreams"], {
        "DestinationType": "prepared_query", "DestinationName": "api-query",
        "LocalBindAddress": mesh.host, "LocalBindPort": port}]}
    assert mesh.agent.put("/v1/agent/service/register", body).status == 200
    wait_until(lambda: http_get(mesh.host, port, "/q") == (200, "api /q"), 15,
               what="traffic through the prepared-query upstream")
    dump = mesh.proxies["web"].config_dump()
    names = {entry.get("name") or entry.get("cluster", {}).get("name")
             for cfg in dump["configs"]
             for entry in cfg.get("dynamic_listeners", []) + cfg.get(
                 "dynamic_active_clusters", [])}
    td = mesh.agent.get("/v1/connect/ca/roots").json()["TrustDomain"]
    assert f"prepared_query:api-query:{mesh.host}:{port}" in names
    assert f"api-query.default.dc1.query.{td}" in names
    assert mesh.get() == (200, "api /")  # the service upstream is still there
