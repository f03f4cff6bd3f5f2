"""A real Envoy on state-of-the-world ADS (``api_type: GRPC``) gets the same config."""

from __future__ import annotations

import json

import pytest

from tests.support.agent_process import wait_until
from tests.support.cli_process import run_cli
from tests.support.mesh import start_mesh


@pytest.fixture(scope="module")
def mesh():
    mesh = start_mesh("http")
    yield mesh
    mesh.stop()


def test_sotw_envoy_carries_traffic_and_follows_changes(mesh, tmp_path):
    out = run_cli(mesh.agent, "connect", "envoy", "-sidecar-for", "web", "-bootstrap",
                  "-grpc-addr", f"{mesh.host}:{mesh.agent.grpc_port}")
    assert out.returncode == 0, out.stderr
    bootstrap = json.loads(out.stdout)
    assert bootstrap["dynamic_resources"]["ads_config"]["api_type"] == "DELTA_GRPC"
    bootstrap["dynamic_resources"]["ads_config"]["api_type"] = "GRPC"
    mesh.proxies["web"].stop()  # the delta Envoy leaves the listener ports to this one
    sotw = mesh.envoys.start_bootstrap(bootstrap, mesh.host, tmp_path)
    wait_until(lambda: mesh.get("/sotw") == (200, "api /sotw"), 15,
               what="traffic through the SotW Envoy")
    versions = sotw.stats("cluster_manager.cds.version_text")
    assert len(next(iter(versions.values())).strip('"')) == 16
    # a change is pushed: a service-router gives /slow a timeout and retries
    mesh.config_entry({"Kind": "service-router", "Name": "api", "Routes": [
        {"Match": {"HTTP": {"PathPrefix": "/slow"}},
         "Destination": {"RequestTimeout": "7s", "NumRetries": 2}}]})
    wait_until(lambda: '"7s"' in sotw.admin("/config_dump?resource=dynamic_route_configs"),
               10, what="the route timeout in the SotW Envoy")
    assert mesh.get("/slow/x") == (200, "api /slow/x")
    rejected = sotw.stats("update_rejected")
    assert all(v == "0" for v in rejected.values()), rejected
    # the delta Envoy that went away ended its stream quietly
    assert "Traceback" not in "".join(mesh.agent.log)
