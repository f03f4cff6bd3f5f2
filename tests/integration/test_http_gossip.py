"""Gossip wired into the agent: members, join, leave, force-leave, events, reconcile."""

from __future__ import annotations

import base64
import threading

import pytest

from tests.support.agent_process import start_agent, wait_until

ALIVE, LEFT, FAILED = 1, 3, 4


def statuses(agent, wan: bool = False) -> dict[str, int]:
    path = "/v1/agent/members" + ("?wan=1" if wan else "")
    return {m["Name"]: m["Status"] for m in agent.get(path).json()}


def node_name(agent) -> str:
    return agent.get("/v1/agent/self").json()["Config"]["NodeName"]


def serf_check(agent, node: str) -> str | None:
    for check in agent.get(f"/v1/health/node/{node}").json():
        if check["CheckID"] == "serfHealth":
            return check["Status"]
    return None


@pytest.fixture
def pair():
    first = start_agent("-node", "alpha")
    second = start_agent("-node", "beta")
    yield first, second
    first.stop()
    second.stop()


def test_single_agent_lists_itself_with_consul_tags(agent):
    [member] = agent.get("/v1/agent/members").json()
    assert member["Status"] == ALIVE and member["Port"] == agent.lan_port
    tags = member["Tags"]
    assert (tags["role"], tags["dc"], tags["vsn"]) == ("consul", "dc1", "2")
    assert tags["id"] == agent.get("/v1/agent/self").json()["Config"]["NodeID"]
    [wan] = agent.get("/v1/agent/members?wan=1").json()
    assert wan["Name"] == f"{member['Name']}.dc1" and wan["Port"] == agent.wan_port


def test_join_members_reconcile_and_events(pair):
    alpha, beta = pair
    assert beta.put(f"/v1/agent/join/{alpha.lan_address}").status == 200
    wait_until(lambda: statuses(alpha) == {"alpha": ALIVE, "beta": ALIVE}, what="alpha sees beta")
    wait_until(lambda: statuses(beta) == {"alpha": ALIVE, "beta": ALIVE}, what="beta sees alpha")
    wait_until(lambda: serf_check(alpha, "beta") == "passing", what="beta in alpha's catalog")

    index = alpha.get("/v1/event/list").headers["X-Consul-Index"]
    result = {}
    waiter = threading.Thread(target=lambda: result.update(
        reply=alpha.get(f"/v1/event/list?index={index}&wait=20s")))
    waiter.start()
    fired = beta.put("/v1/event/fire/deploy?node=alp", b"v1.2.3").json()
    assert fired["Name"] == "deploy" and fired["NodeFilter"] == "alp"
    waiter.join(15)
    assert not waiter.is_alive()
    [event] = result["reply"].json()
    assert event["ID"] == fired["ID"]
    assert base64.b64decode(event["Payload"]) == b"v1.2.3"
    assert beta.get("/v1/event/list?name=deploy").json() == [], "node filter excludes beta"


def test_kill_marks_failed_and_critical_then_force_leave(pair):
    alpha, beta = pair
    beta.put(f"/v1/agent/join/{alpha.lan_address}")
    wait_until(lambda: statuses(alpha).get("beta") == ALIVE, what="join")
    beta.kill()
    wait_until(lambda: statuses(alpha).get("beta") == FAILED, timeout=30, what="beta failed")
    wait_until(lambda: serf_check(alpha, "beta") == "critical", what="serfHealth critical")
    assert alpha.put("/v1/agent/force-leave/beta").status == 200
    wait_until(lambda: statuses(alpha).get("beta") == LEFT, what="beta left")
    wait_until(lambda: alpha.get("/v1/catalog/node/beta").json() is None, what="deregistered")


def test_graceful_leave_exits_and_is_seen_as_left(pair):
    alpha, beta = pair
    beta.put(f"/v1/agent/join/{alpha.lan_address}")
    wait_until(lambda: statuses(alpha).get("beta") == ALIVE, what="join")
    assert beta.put("/v1/agent/leave").status == 200
    assert beta.process.wait(15) == 0
    wait_until(lambda: statuses(alpha).get("beta") == LEFT, what="beta left")


def test_join_and_force_leave_errors(agent):
    assert agent.put("/v1/agent/join/127.0.0.1:1").status == 500
    reply = agent.put("/v1/agent/force-leave/nobody")
    assert reply.status == 404
    assert agent.put("/v1/agent/join/").status == 400
    assert agent.put("/v1/event/fire/big", b"x" * 2000).status == 400
    assert agent.put("/v1/event/fire/x?tag=a").status == 400


def test_coordinates(agent):
    name = node_name(agent)
    entries = wait_until(lambda: agent.get("/v1/coordinate/nodes").json(), what="coordinate")
    assert entries[0]["Node"] == name and len(entries[0]["Coord"]["Vec"]) == 8
    assert agent.get(f"/v1/coordinate/node/{name}").status == 200
    assert agent.get("/v1/coordinate/node/nobody").status == 404
    [dc] = agent.get("/v1/coordinate/datacenters").json()
    assert dc["Datacenter"] == "dc1" and dc["Coordinates"][0]["Node"] == name


def test_keyring_rotation():
    first = base64.b64encode(b"k" * 32).decode()
    second = base64.b64encode(b"s" * 16).decode()
    agent = start_agent("-encrypt", first)
    try:
        [wan, lan] = agent.get("/v1/operator/keyring").json()
        assert (wan["WAN"], lan["WAN"]) == (True, False)
        assert lan["Keys"] == {first: 1} and lan["PrimaryKeys"] == {first: 1}
        assert agent.call("POST", "/v1/operator/keyring", {"Key": second}).status == 200
        assert agent.put("/v1/operator/keyring", {"Key": second}).status == 200
        assert agent.call("DELETE", "/v1/operator/keyring", {"Key": first}).status == 200
        lan = agent.get("/v1/operator/keyring").json()[1]
        assert lan["Keys"] == {second: 1} and lan["PrimaryKeys"] == {second: 1}
        assert agent.call("DELETE", "/v1/operator/keyring", {"Key": second}).status == 500
        assert agent.call("POST", "/v1/operator/keyring", {"Key": "nope"}).status == 400
    finally:
        agent.stop()


def test_encrypted_agents_join_and_wrong_key_is_refused():
    key = base64.b64encode(b"a" * 32).decode()
    alpha = start_agent("-node", "alpha", "-encrypt", key)
    beta = start_agent("-node", "beta", "-encrypt", key)
    wrong = start_agent("-node", "gamma", "-encrypt", base64.b64encode(b"b" * 32).decode())
    try:
        assert beta.put(f"/v1/agent/join/{alpha.lan_address}").status == 200
        wait_until(lambda: statuses(alpha).get("beta") == ALIVE, what="encrypted join")
        assert wrong.put(f"/v1/agent/join/{alpha.lan_address}").status == 500
        assert "gamma" not in statuses(alpha)
        assert alpha.get("/v1/status/leader").status == 200
    finally:
        for a in (alpha, beta, wrong):
            a.stop()


def test_start_join_flag_and_bad_join_exit_cleanly(agent):
    joined = start_agent("-node", "joiner", "-join", agent.lan_address)
    try:
        wait_until(lambda: "joiner" in statuses(agent), what="-join at start")
    finally:
        joined.stop()
    with pytest.raises(RuntimeError, match="Error joining lan pool"):
        start_agent("-join", "127.0.0.1:1")
