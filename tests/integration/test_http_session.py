"""/v1/session against a real agent: create, info, list, node, renew, destroy, locks."""

from __future__ import annotations

import time


def node_name(agent) -> str:
    return agent.get("/v1/agent/self").json()["Config"]["NodeName"]


def test_create_defaults_and_info(agent):
    session_id = agent.put("/v1/session/create").json()["ID"]
    reply = agent.get(f"/v1/session/info/{session_id}")
    [session] = reply.json()
    assert session["ID"] == session_id
    assert session["Node"] == node_name(agent)
    assert session["LockDelay"] == 15_000_000_000
    assert session["Behavior"] == "release"
    assert session["NodeChecks"] == ["serfHealth"]
    assert session["TTL"] == ""
    assert reply.index >= session["CreateIndex"]


def test_create_with_body_fields(agent):
    body = {"Name": "my-service-lock", "LockDelay": "30s", "Behavior": "delete",
            "TTL": "30s", "node_checks": []}
    session_id = agent.put("/v1/session/create", body).json()["ID"]
    [session] = agent.get(f"/v1/session/info/{session_id}").json()
    assert (session["Name"], session["LockDelay"], session["Behavior"], session["TTL"]) == (
        "my-service-lock", 30_000_000_000, "delete", "30s")
    assert session["NodeChecks"] == []


def test_lock_delay_number_below_1000_is_seconds(agent):
    session_id = agent.put("/v1/session/create", {"LockDelay": 5}).json()["ID"]
    assert agent.get(f"/v1/session/info/{session_id}").json()[0]["LockDelay"] == 5 * 10**9


def test_bad_create_requests(agent):
    assert agent.put("/v1/session/create", {"TTL": "5s"}).status == 400
    assert agent.put("/v1/session/create", {"TTL": "bogus"}).status == 400
    assert agent.put("/v1/session/create", {"Behavior": "explode"}).status == 400
    reply = agent.put("/v1/session/create", {"Node": "no-such-node"})
    assert reply.status == 400 and reply.text == "Missing node registration"
    reply = agent.put("/v1/session/create", {"NodeChecks": ["nope"]})
    assert reply.status == 400 and "Missing check 'nope' registration" in reply.text
    assert agent.put("/v1/session/create", b"{not json").status == 400
    assert agent.put("/v1/session/create", {"Bogus": 1}).status == 400


def test_list_node_renew_destroy(agent):
    session_id = agent.put("/v1/session/create", {"TTL": "10s"}).json()["ID"]
    assert session_id in [s["ID"] for s in agent.get("/v1/session/list").json()]
    node_sessions = agent.get(f"/v1/session/node/{node_name(agent)}").json()
    assert session_id in [s["ID"] for s in node_sessions]
    renewed = agent.put(f"/v1/session/renew/{session_id}")
    assert renewed.status == 200 and renewed.json()[0]["ID"] == session_id
    assert agent.put(f"/v1/session/destroy/{session_id}").json() is True
    assert agent.get(f"/v1/session/info/{session_id}").json() == []
    missing = agent.put(f"/v1/session/renew/{session_id}")
    assert missing.status == 404 and session_id in missing.text


def test_destroy_releases_locks_and_lock_delay_holds_them(agent, unique):
    holder = agent.put("/v1/session/create", {"LockDelay": "700ms"}).json()["ID"]
    other = agent.put("/v1/session/create").json()["ID"]
    assert agent.put(f"/v1/kv/{unique}?acquire={holder}", b"x").json() is True
    agent.put(f"/v1/session/destroy/{holder}")
    assert "Session" not in agent.get(f"/v1/kv/{unique}").json()[0]
    released_at = time.monotonic()
    assert agent.put(f"/v1/kv/{unique}?acquire={other}", b"y").json() is False
    deadline = released_at + 10
    while agent.put(f"/v1/kv/{unique}?acquire={other}", b"y").json() is not True:
        assert time.monotonic() < deadline, "lock delay never ended"
        time.sleep(0.05)
    assert time.monotonic() - released_at >= 0.7


def test_delete_behavior_removes_held_keys(agent, unique):
    session_id = agent.put("/v1/session/create", {"Behavior": "delete",
                                                  "LockDelay": "0s"}).json()["ID"]
    agent.put(f"/v1/kv/{unique}?acquire={session_id}", b"x")
    agent.put(f"/v1/session/destroy/{session_id}")
    assert agent.get(f"/v1/kv/{unique}").status == 404


def test_critical_check_invalidates_session(agent, unique):
    node = f"{unique}-ext"  # a catalog-only node: no agent's anti-entropy owns it

    def register(status: str) -> None:
        agent.put("/v1/catalog/register", {
            "Node": node, "Address": "10.0.0.7",
            "Checks": [{"CheckID": "serfHealth", "Name": "serf", "Status": "passing"},
                       {"CheckID": unique, "Name": unique, "Status": status}]})

    register("passing")
    session_id = agent.put("/v1/session/create", {
        "Node": node, "NodeChecks": ["serfHealth", unique]}).json()["ID"]
    agent.put(f"/v1/kv/{unique}?acquire={session_id}", b"x")
    register("critical")
    assert agent.get(f"/v1/session/info/{session_id}").json() == []
    assert "Session" not in agent.get(f"/v1/kv/{unique}").json()[0]


def test_blocking_info_wakes_on_destroy(agent):
    import threading
    session_id = agent.put("/v1/session/create").json()["ID"]
    index = agent.get(f"/v1/session/info/{session_id}").index
    result = {}
    thread = threading.Thread(target=lambda: result.update(
        reply=agent.get(f"/v1/session/info/{session_id}?index={index}&wait=20s")))
    thread.start()
    agent.put(f"/v1/session/destroy/{session_id}")
    thread.join(10)
    assert not thread.is_alive() and result["reply"].json() == []
