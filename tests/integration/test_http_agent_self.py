"""/v1/agent/self against a real agent: its numbers and its Member agree with the rest of
the API (services and checks registered, /v1/agent/members)."""

from __future__ import annotations

import urllib.parse

import pytest

from tests.support.agent_process import start_agent
from tests.support.cli_process import run_cli


@pytest.fixture(scope="module")
def agent():
    process = start_agent()
    yield process
    process.stop()


def own_member(agent, wan: bool = False) -> dict:
    name = agent.get("/v1/agent/self").json()["Config"]["NodeName"]
    members = agent.get("/v1/agent/members" + ("?wan=1" if wan else "")).json()
    return next(m for m in members if m["Name"].split(".")[0] == name)


def test_member_equals_own_entry_in_members(agent):
    assert agent.get("/v1/agent/self").json()["Member"] == own_member(agent)


def test_stats_count_local_services_and_checks(agent):
    before = agent.get("/v1/agent/self").json()["Stats"]["agent"]
    assert (before["services"], before["checks"]) == ("0", "0")
    for i in range(3):
        assert agent.put("/v1/agent/service/register",
                         {"Name": f"web{i}", "Port": 8000 + i,
                          "Check": {"TTL": "30s"}}).status == 200
    assert agent.put("/v1/agent/check/register", {"Name": "node-ttl", "TTL": "30s"}).status \
        == 200
    stats = agent.get("/v1/agent/self").json()["Stats"]["agent"]
    assert (stats["services"], stats["checks"], stats["check_ttls"],
            stats["check_monitors"]) == ("3", "4", "4", "0")
    info = run_cli(agent, "info")
    assert info.returncode == 0, info.stderr
    lines = info.stdout.decode().splitlines()
    assert "\tservices = 3" in lines and "\tchecks = 4" in lines
    assert agent.put("/v1/agent/service/deregister/web0").status == 200
    stats = agent.get("/v1/agent/self").json()["Stats"]["agent"]
    assert (stats["services"], stats["checks"]) == ("2", "3")


@pytest.mark.parametrize("wan", [False, True])
def test_members_filter(agent, wan):
    me = own_member(agent, wan)

    def members(expression: str):
        query = urllib.parse.urlencode({"filter": expression, **({"wan": "1"} if wan else {})})
        return agent.get(f"/v1/agent/members?{query}")

    kept = members(f'Name == "{me["Name"]}"')
    assert kept.status == 200 and kept.json() == [me]
    dropped = members('Tags.role != "consul"')
    assert dropped.status == 200 and dropped.json() == []
    bad = members("Nope == 1")
    assert bad.status == 400
    assert bad.text.startswith("Failed to create boolean expression evaluator")


def test_debug_config_addresses(agent):
    shown = agent.get("/v1/agent/self").json()["DebugConfig"]
    expected = {
        "SerfAdvertiseAddrLAN": f"tcp://{agent.host}:{agent.lan_port}",
        "SerfAdvertiseAddrWAN": f"tcp://{agent.host}:{agent.wan_port}",
        "AdvertiseAddrLAN": agent.host, "AdvertiseAddrWAN": agent.host,
        "BindAddr": agent.host, "ClientAddrs": [agent.host],
        "HTTPAddrs": [f"tcp://{agent.host}:{agent.port}"], "HTTPPort": agent.port,
        "DNSAddrs": [f"tcp://{agent.host}:{agent.dns_port}", f"udp://{agent.host}:{agent.dns_port}"],
        "ServerMode": True, "DevMode": True, "Datacenter": "dc1",
    }
    assert {key: shown[key] for key in expected} == expected
    config = agent.get("/v1/agent/self").json()["Config"]
    assert (shown["NodeName"], shown["NodeID"]) == (config["NodeName"], config["NodeID"])
