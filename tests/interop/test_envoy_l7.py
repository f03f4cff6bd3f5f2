"""HTTP services through real Envoys: L7 intentions and a service-splitter across subsets."""

from __future__ import annotations

import collections

import pytest

from tests.support.agent_process import wait_until
from tests.support.mesh import start_mesh


@pytest.fixture(scope="module")
def mesh():
    mesh = start_mesh("http", api_meta={"version": "v1"})
    yield mesh
    mesh.stop()


def test_http_goes_through_the_hcm(mesh):
    status, body = mesh.get("/hello")
    assert (status, body) == (200, "api /hello")
    stats = mesh.proxies["api"].stats("http.public_listener")
    assert int(stats.get("http.public_listener.downstream_rq_2xx", "0")) >= 1


def test_l7_intention_denies_one_path_and_allows_another(mesh):
    mesh.intention("web", "api", {"Permissions": [
        {"Action": "deny", "HTTP": {"PathPrefix": "/admin"}},
        {"Action": "allow", "HTTP": {"PathPrefix": "/"}}]})
    try:
        wait_until(lambda: mesh.get("/admin/users")[0] == 403, 5, what="/admin denied")
        assert mesh.get("/public") == (200, "api /public")
        assert mesh.get("/admin")[0] == 403
        denied = mesh.proxies["api"].stats("rbac")
        assert int(denied.get("http.public_listener.rbac.denied", "0")) >= 2
    finally:
        mesh.agent.delete("/v1/connect/intentions/exact?source=web&destination=api")
    wait_until(lambda: mesh.get("/admin")[0] == 200, 5, what="/admin allowed again")


def test_splitter_sends_about_half_to_each_subset(mesh):
    mesh.register_app("api-2", "api", meta={"version": "v2"}, reply_as="api-v2")
    mesh.start_sidecar("api-2")
    mesh.config_entry({"Kind": "service-resolver", "Name": "api", "Subsets": {
        "v1": {"Filter": "Service.Meta.version == v1"},
        "v2": {"Filter": "Service.Meta.version == v2"}}})
    mesh.config_entry({"Kind": "service-splitter", "Name": "api", "Splits": [
        {"Weight": 50, "ServiceSubset": "v1"}, {"Weight": 50, "ServiceSubset": "v2"}]})
    wait_until(lambda: mesh.get("/x")[1] == "api-v2 /x", 10, what="v2 to get traffic")
    replies = [mesh.get("/s") for _ in range(200)]
    seen = collections.Counter(body.split()[0] for status, body in replies if status == 200)
    assert sum(seen.values()) >= 190, replies  # a loaded box may time out a few
    assert set(seen) == {"api", "api-v2"}, seen
    assert 60 <= seen["api"] <= 140, seen
    clusters = [line.split("::")[0] for line in mesh.proxies["web"].admin("/clusters").split()
                if line.endswith("::observability_name::" + line.split("::")[0])]
    assert any(name.startswith("v1.api.default.dc1.internal.") for name in clusters)
    assert any(name.startswith("v2.api.default.dc1.internal.") for name in clusters)
