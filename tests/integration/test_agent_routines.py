"""Supervised background routines in real agents: a routine that fails is restarted,
counted and shown in /v1/agent/self, and the agent keeps syncing."""

from __future__ import annotations

import re

import pytest

from tests.support.agent_process import start_agent, wait_until

AGENT_ROUTINES = {"anti-entropy", "coordinate-sync", "runtime-metrics", "gossip-lan-timers"}
SERVER_ROUTINES = {"reconcile", "autopilot", "gossip-wan-timers"}
CLIENT_ROUTINES = {"router-rebalance"}


@pytest.fixture(scope="module")
def hooked(tmp_path_factory):
    """A -dev server and a client joined to it, both with the test hooks on."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PROCONSUL_TEST_HOOKS", "1")
        server = start_agent()
        client = start_agent("-data-dir", str(tmp_path_factory.mktemp("client")),
                             "-node", "routines-client", "-retry-join", server.lan_address,
                             dev=False)
    wait_until(lambda: client.get("/v1/catalog/nodes").status == 200, timeout=20,
               what="the client reaches the server")
    yield server, client
    client.stop()
    server.stop()


def routines(agent) -> dict[str, dict]:
    return agent.get("/v1/agent/self").json()["Routines"]


def restarts_metric(agent, name: str) -> int:
    text = agent.get("/v1/agent/metrics?format=prometheus").text
    found = re.search(rf'^consul_proconsul_routine_restarts{{routine="{name}"}} (\d+)$', text,
                      re.M)
    return int(found.group(1)) if found else 0


def catalog_ids(agent, service: str) -> list[str]:
    return [s["ServiceID"] for s in agent.get(f"/v1/catalog/service/{service}").json()]


@pytest.mark.parametrize("role", ["server", "client"])
def test_each_supervised_routine_comes_back_after_a_failure(hooked, role, unique):
    agent = hooked[0] if role == "server" else hooked[1]
    expected = AGENT_ROUTINES | (SERVER_ROUTINES if role == "server" else CLIENT_ROUTINES)
    shown = wait_until(lambda: (r := routines(agent)) and expected <= set(r) and r,
                       what="every long-lived routine running")
    assert all(shown[name]["Running"] and shown[name]["Restarts"] == 0 for name in expected)
    for name in sorted(expected):
        assert agent.put(f"/v1/proconsul/test-hooks/routine/{name}/fail").status == 200
    for name in sorted(expected):
        state = wait_until(lambda n=name: (r := routines(agent).get(n)) and r["Running"]
                           and r["Restarts"] == 1 and r, timeout=10, what=f"{name} restarted")
        assert state["LastError"] == "InjectedFailure: killed by a test hook"
        assert restarts_metric(agent, name) == 1
    assert agent.put("/v1/proconsul/test-hooks/routine/nope/fail").status == 404
    # The restarted anti-entropy still carries registrations to the catalog.
    assert agent.put("/v1/agent/service/register", {"Name": unique}).status == 200
    wait_until(lambda: catalog_ids(agent, unique) == [unique], timeout=5,
               what="a registration after the restart reaches the catalog")


def test_a_registration_that_cannot_sync_does_not_stop_the_others(hooked, unique):
    """The reported symptom: a service the catalog cannot take (a port past any integer
    type) made every later registration of that agent stay out of the catalog."""
    server, _ = hooked
    reply = server.put("/v1/agent/service/register",
                       {"Name": f"{unique}-bad", "Port": 99999999999999999999999})
    assert reply.status in (200, 400), reply.text  # 400 once the edge validates ports
    for n in range(3):
        assert server.put("/v1/agent/service/register", {"Name": f"{unique}-{n}"}).status == 200
        wait_until(lambda n=n: catalog_ids(server, f"{unique}-{n}") == [f"{unique}-{n}"],
                   timeout=5, what=f"registration {n} reaches the catalog")
    assert routines(server)["anti-entropy"]["Running"] is not None


def test_without_the_environment_variable_there_is_no_hook(agent):
    assert agent.put("/v1/proconsul/test-hooks/routine/anti-entropy/fail").status == 404
    assert "anti-entropy" in agent.get("/v1/agent/self").json()["Routines"]


def test_agent_self_stays_decodable_by_consuls_go_client(agent):
    """The Go client reads /v1/agent/self into map[string]map[string]interface{}: every
    top-level value, Routines included, must be an object (or null)."""
    body = agent.get("/v1/agent/self").json()
    assert isinstance(body["Routines"]["anti-entropy"]["Restarts"], int)
    assert {k: type(v).__name__ for k, v in body.items()
            if v is not None and not isinstance(v, dict)} == {}
