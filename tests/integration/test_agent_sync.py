"""Anti-entropy against a real agent: what the agent accepts reaches the catalog at once
and stays right when changes race with the sync under way."""

from __future__ import annotations

import pytest

from tests.support.agent_process import start_agent, wait_until


@pytest.fixture(scope="module")
def client_agent(agent, tmp_path_factory):
    """A client agent joined to the module's -dev server: its syncs are real RPCs."""
    client = start_agent("-data-dir", str(tmp_path_factory.mktemp("client")),
                         "-node", "sync-client", "-retry-join", agent.lan_address, dev=False)
    wait_until(lambda: client.get("/v1/catalog/nodes").status == 200, timeout=20,
               what="the client reaches the server")
    yield client
    client.stop()


def catalog_check(agent, service: str, check_id: str) -> str | None:
    for check in agent.get(f"/v1/health/checks/{service}").json():
        if check["CheckID"] == check_id:
            return check["Status"]
    return None


@pytest.mark.parametrize("kind", ["server", "client"])
def test_ttl_check_passed_at_once_reaches_the_catalog(request, kind, unique):
    """A pass sent while the registration's sync is in flight is not taken as synced
    (before the fix the catalog said critical until the next full sync, ~60 s)."""
    agent = request.getfixturevalue("agent" if kind == "server" else "client_agent")
    for attempt in range(10):
        service = f"{unique}-{attempt}"
        body = {"Name": service, "Check": {"TTL": "60s"}}
        assert agent.put("/v1/agent/service/register", body).status == 200
        assert agent.put(f"/v1/agent/check/pass/service:{service}").status == 200
        wait_until(lambda s=service: catalog_check(agent, s, f"service:{s}") == "passing",
                   timeout=5, what=f"attempt {attempt}: the pass reaches the catalog")


@pytest.mark.parametrize("kind", ["server", "client"])
def test_registration_is_in_the_catalog_at_once(request, kind, unique):
    """An immediate sync, not the next anti-entropy tick: a read right after the
    registration's reply sees it (Consul's own tests read the catalog straight away)."""
    agent = request.getfixturevalue("agent" if kind == "server" else "client_agent")
    for attempt in range(20):
        service = f"{unique}-{attempt}"
        body = {"Name": service, "Port": 80, "Check": {"TTL": "60s", "Status": "passing"}}
        assert agent.put("/v1/agent/service/register", body).status == 200
        assert [s["ServiceID"] for s in agent.get(f"/v1/catalog/service/{service}").json()] \
            == [service], f"attempt {attempt}"
        [entry] = agent.get(f"/v1/health/service/{service}?passing").json()
        assert [c["CheckID"] for c in entry["Checks"]] == ["serfHealth", f"service:{service}"]
        check = {"Name": f"{service}-extra", "TTL": "60s", "ServiceID": service}
        assert agent.put("/v1/agent/check/register", check).status == 200
        assert catalog_check(agent, service, f"{service}-extra") == "critical"
        assert agent.put(f"/v1/agent/service/deregister/{service}").status == 200
        assert agent.get(f"/v1/catalog/service/{service}").json() == []
