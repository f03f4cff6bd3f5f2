"""``proconsul troubleshoot proxy|upstreams`` against a real Envoy's admin endpoint."""

from __future__ import annotations

import pytest

from tests.support.agent_process import wait_until
from tests.support.cli_process import run_cli
from tests.support.mesh import start_mesh


@pytest.fixture
def mesh():
    mesh = start_mesh("tcp")
    yield mesh
    mesh.stop()


def troubleshoot(mesh, *args: str) -> tuple[int, str]:
    web = mesh.proxies["web"]
    done = run_cli(mesh.agent, "troubleshoot", *args, "-envoy-admin-endpoint",
                   f"{web.host}:{web.admin_port}")
    return done.returncode, done.stdout.decode() + done.stderr.decode()


def test_a_working_upstream_and_the_upstream_list(mesh):
    code, out = troubleshoot(mesh, "upstreams")
    assert code == 0 and out.splitlines() == [
        "==> Upstreams (explicit upstreams only) (1)", "api",
        "==> Upstreams IPs (transparent proxy only) (0)"]
    code, out = troubleshoot(mesh, "proxy", "-upstream-envoy-id", "api")
    assert code == 0, out
    assert out.startswith("==> Validation\n✓ Envoy accepted every config update\n")
    assert "✓ Envoy has 1 healthy endpoint(s) in api.default.dc1.internal." in out
    assert f"✓ Envoy listens for api on {mesh.host}:{mesh.web_upstream}" in out
    assert out.rstrip().endswith("No problems found.")
    code, out = troubleshoot(mesh, "proxy", "-upstream-ip", mesh.host)
    assert code == 0, out


def test_no_healthy_endpoint_when_the_upstream_sidecar_fails(mesh):
    checks = mesh.agent.get("/v1/agent/checks").json()
    check_id = next(c["CheckID"] for c in checks.values()
                    if c["ServiceID"] == "api-sidecar-proxy")
    assert mesh.agent.put(f"/v1/agent/check/fail/{check_id}", None).status == 200
    wait_until(lambda: mesh.get()[0] != 200, 10, what="api's endpoint to leave web's Envoy")
    code, out = troubleshoot(mesh, "proxy", "-upstream-envoy-id", "api")
    assert code == 2, out
    assert "✗ Envoy has no healthy endpoint in api.default.dc1.internal." in out
    assert "requests get '503 no healthy upstream'" in out
    assert "1 problem(s) found." in out
    code, out = troubleshoot(mesh, "proxy", "-upstream-envoy-id", "nosuch")
    assert "✗ Envoy has no cluster for upstream nosuch" in out
    assert "✗ Envoy has no listener for upstream nosuch" in out


def test_a_nacked_config_is_reported(mesh):
    current = mesh.agent.get("/v1/agent/service/web-sidecar-proxy").json()
    body = {k: current[k] for k in ("ID", "Kind", "Port", "Address", "Meta")}
    body["Name"] = current["Service"]
    # a negative timeout passes the agent's encoding but not Envoy's validation
    body["Proxy"] = {**current["Proxy"], "Config": {"local_connect_timeout_ms": -1}}
    assert mesh.agent.put("/v1/agent/service/register", body).status == 200
    wait_until(lambda: troubleshoot(mesh, "proxy", "-upstream-envoy-id", "api")[0] == 2, 10,
               what="the NACK to show")
    code, out = troubleshoot(mesh, "proxy", "-upstream-envoy-id", "api")
    assert ("✗ Envoy rejected 1 config update(s) (NACK: "
            "cluster_manager.cds.update_rejected=1)") in out
    assert "got error response from envoy proxy" in out


def test_an_unreachable_admin_endpoint_is_one_line(mesh):
    done = run_cli(mesh.agent, "troubleshoot", "proxy", "-upstream-envoy-id", "api",
                   "-envoy-admin-endpoint", f"{mesh.host}:1")
    assert done.returncode == 1
    assert done.stderr.decode().startswith(f"cannot reach Envoy's admin endpoint {mesh.host}:1")
