"""A config Envoy rejects is reported once (log and metric) and not resent in a loop."""

from __future__ import annotations

import pytest

from tests.support.agent_process import wait_until
from tests.support.mesh import start_mesh

NACK_LOG = "got error response from envoy proxy web-sidecar-proxy"


@pytest.fixture(scope="module")
def mesh():
    mesh = start_mesh("tcp")
    yield mesh
    mesh.stop()


def _set_proxy_config(mesh, config: dict) -> None:
    current = mesh.agent.get("/v1/agent/service/web-sidecar-proxy").json()
    body = {k: current[k] for k in ("ID", "Kind", "Port", "Address", "Meta")}
    body["Name"] = current["Service"]
    body["Proxy"] = {**current["Proxy"], "Config": config}
    reply = mesh.agent.put("/v1/agent/service/register", body)
    assert reply.status == 200, reply.text


def _cds(mesh) -> dict[str, int]:
    stats = mesh.proxies["web"].stats("cluster_manager.cds.update_")
    return {k.rsplit(".", 1)[1]: int(v) for k, v in stats.items() if v.isdigit()}


def _nack_count(mesh) -> int:
    """The consul.xds.server.nack counter's total (Prometheus format: not per interval)."""
    text = mesh.agent.get("/v1/agent/metrics?format=prometheus").text
    return int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("consul_xds_server_nack")))


def test_rejected_config_is_reported_once_and_a_fixed_one_is_sent(mesh):
    before = _cds(mesh)
    # a negative connect timeout passes our encoding but not Envoy's validation
    _set_proxy_config(mesh, {"local_connect_timeout_ms": -1})
    wait_until(lambda: _cds(mesh)["update_rejected"] == before["update_rejected"] + 1, 10,
               what="Envoy to reject the clusters")
    wait_until(lambda: NACK_LOG in "".join(mesh.agent.log), 5, what="the NACK in the log")
    assert "Expected positive duration" in "".join(
        line for line in mesh.agent.log if NACK_LOG in line)
    assert _nack_count(mesh) == 1
    # another change (an intention: listeners only) goes through; the rejected clusters
    # are not sent again with it
    attempts = _cds(mesh)["update_attempt"]
    lds = mesh.proxies["web"].stats("listener_manager.lds.update_success")
    mesh.intention("db", "web", {"Action": "deny"})  # web's public listener RBAC
    wait_until(lambda: mesh.proxies["web"].stats("listener_manager.lds.update_success") != lds,
               10, what="the listener update")
    assert _cds(mesh)["update_attempt"] == attempts
    assert sum(NACK_LOG in line for line in mesh.agent.log) == 1
    assert mesh.get() == (200, "api /")  # Envoy keeps its last good clusters
    # a changed (valid) config is sent and accepted
    _set_proxy_config(mesh, {"local_connect_timeout_ms": 2500})
    wait_until(lambda: _cds(mesh)["update_success"] > before["update_success"], 10,
               what="the fixed clusters to be accepted")
    dump = mesh.proxies["web"].config_dump()
    local = [c["cluster"] for cfg in dump["configs"]
             for c in cfg.get("dynamic_active_clusters", ()) if c["cluster"]["name"] ==
             "local_app"]
    assert local[0]["connect_timeout"] == "2.500s"
    assert _cds(mesh)["update_rejected"] == before["update_rejected"] + 1


def test_proxy_defaults_config_applies_under_the_registration(mesh):
    _set_proxy_config(mesh, {})
    mesh.config_entry({"Kind": "proxy-defaults", "Name": "global",
                       "Config": {"local_connect_timeout_ms": 3000}})

    def local_app_timeout():
        dump = mesh.proxies["web"].config_dump()
        return next(c["cluster"]["connect_timeout"] for cfg in dump["configs"]
                    for c in cfg.get("dynamic_active_clusters", ())
                    if c["cluster"]["name"] == "local_app")

    wait_until(lambda: local_app_timeout() == "3s", 10, what="proxy-defaults' timeout")
    _set_proxy_config(mesh, {"local_connect_timeout_ms": 1500})  # the registration wins
    wait_until(lambda: local_app_timeout() == "1.500s", 10, what="the registration's timeout")
    assert mesh.get() == (200, "api /")
