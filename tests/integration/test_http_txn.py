"""/v1/txn against a real agent: results, rollback, limits and read-only transactions."""

from __future__ import annotations

import base64


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def kv(verb: str, key: str, **fields) -> dict:
    return {"KV": {"Verb": verb, "Key": key, **fields}}


def test_writes_succeed_with_results(agent, unique):
    reply = agent.put("/v1/txn", [kv("set", f"{unique}/a", Value=b64("1"), Flags=3),
                                  kv("set", f"{unique}/b", Value=b64("2")),
                                  kv("get", f"{unique}/a")])
    assert reply.status == 200
    body = reply.json()
    assert body["Errors"] is None
    first, _, got = (r["KV"] for r in body["Results"])
    assert first["Key"] == f"{unique}/a" and first["Value"] is None and first["Flags"] == 3
    assert base64.b64decode(got["Value"]) == b"1"


def test_rollback_is_409_and_writes_nothing(agent, unique):
    agent.put(f"/v1/kv/{unique}/keep", b"old")
    reply = agent.put("/v1/txn", [kv("set", f"{unique}/keep", Value=b64("new")),
                                  kv("set", f"{unique}/fresh", Value=b64("x")),
                                  kv("cas", f"{unique}/keep", Value=b64("y"), Index=999999)])
    assert reply.status == 409
    body = reply.json()
    assert body["Results"] is None
    assert body["Errors"] == [{"OpIndex": 2,
                               "What": f'failed to set key "{unique}/keep", index is stale'}]
    assert agent.get(f"/v1/kv/{unique}/keep?raw").body == b"old"
    assert agent.get(f"/v1/kv/{unique}/fresh").status == 404


def test_lock_ops_and_check_session(agent, unique):
    session = agent.put("/v1/session/create").json()["ID"]
    reply = agent.put("/v1/txn", [kv("lock", f"{unique}/l", Value=b64("x"), Session=session),
                                  kv("check-session", f"{unique}/l", Session=session)])
    assert reply.status == 200, reply.text
    reply = agent.put("/v1/txn", [kv("unlock", f"{unique}/l", Session="other")])
    assert reply.status == 409


def test_read_only_txn_has_query_headers(agent, unique):
    agent.put(f"/v1/kv/{unique}/r", b"v")
    reply = agent.put("/v1/txn", [kv("get", f"{unique}/r"), kv("get-tree", f"{unique}/")])
    assert reply.status == 200
    assert reply.headers["X-Consul-KnownLeader"] == "true"
    assert "X-Consul-Index" in reply.headers
    assert len(reply.json()["Results"]) == 2
    missing = agent.put("/v1/txn", [kv("get", f"{unique}/nope")])
    assert missing.status == 409
    assert missing.json()["Errors"][0]["What"] == f'key "{unique}/nope" doesn\'t exist'


def test_catalog_ops(agent, unique):
    reply = agent.put("/v1/txn", [
        {"Node": {"Verb": "set", "Node": {"Node": unique, "Address": "10.1.1.1"}}},
        {"Service": {"Verb": "set", "Node": unique,
                     "Service": {"ID": "web1", "Service": "web", "Port": 80}}},
        {"Check": {"Verb": "set", "Check": {"Node": unique, "CheckID": "c1", "Name": "c1",
                                            "Status": "passing", "ServiceID": "web1"}}},
    ])
    assert reply.status == 200, reply.text
    node, service, check = reply.json()["Results"]
    assert node["Node"]["Address"] == "10.1.1.1"
    assert service["Service"]["Port"] == 80
    assert check["Check"]["ServiceName"] == "web"
    got = agent.put("/v1/txn", [{"Node": {"Verb": "get", "Node": {"Node": unique}}}])
    assert got.status == 200 and got.json()["Results"][0]["Node"]["Node"] == unique
    bad = agent.put("/v1/txn", [{"Node": {"Verb": "delete-cas",
                                          "Node": {"Node": unique, "ModifyIndex": 1}}}])
    assert bad.status == 409


def test_limits_and_bad_bodies(agent, unique):
    ops = [kv("set", f"{unique}/{i}", Value=b64("x")) for i in range(65)]
    reply = agent.put("/v1/txn", ops)
    assert reply.status == 413 and reply.text == "Transaction contains too many operations (65 > 64)"
    assert agent.put("/v1/txn", ops[:64]).status == 200
    big = base64.b64encode(b"x" * (512 * 1024 + 1)).decode()
    assert agent.put("/v1/txn", [kv("set", f"{unique}/big", Value=big)]).status == 413
    assert agent.put("/v1/txn", b"[{").status == 400
    assert agent.put("/v1/txn", [{"KV": {"Verb": "set", "Key": "k", "Nope": 1}}]).status == 400
    empty = agent.put("/v1/txn", [{}])  # Consul's HTTP layer skips an empty operation
    assert (empty.status, empty.json()) == (200, {"Results": [], "Errors": None})
    unknown = agent.put("/v1/txn", [kv("frobnicate", f"{unique}/x")])
    assert unknown.status == 409
    assert unknown.json()["Errors"] == [{"OpIndex": 0, "What": 'unknown KV verb "frobnicate"'}]


def test_error_texts_are_consuls(agent, unique):
    key, session = f"{unique}/lock", "8a5f44a7-0000-0000-0000-000000000000"
    cases = [
        (kv("lock", key), "missing session"),
        (kv("unlock", key), "missing session"),
        (kv("lock", key, Session=session), f'invalid session "{session}"'),
        (kv("check-session", key, Session="x"),
         f'failed to check session, key "{key}" doesn\'t exist'),
        # Go's %q: printable runes as they are, others escaped.
        (kv("get", f"{unique}/\u00e9\u00a0\t"),
         f'key "{unique}/\u00e9\\u00a0\\t" doesn\'t exist'),
    ]
    for op, what in cases:
        reply = agent.put("/v1/txn", [op])
        assert (reply.status, reply.json()["Errors"]) == (409, [{"OpIndex": 0, "What": what}])
    got = agent.put("/v1/txn", [kv("get-or-empty", f"{unique}/none")])
    assert got.status == 200
    assert got.json()["Results"][0]["KV"]["Key"] == f"{unique}/none"


def test_node_and_check_ops_with_peer_name_touch_that_peers_rows(agent, unique):
    peer, name = f"p-{unique}", f"n-{unique}"
    reply = agent.put("/v1/txn", [
        {"Node": {"Verb": "set", "Node": {"Node": name, "Address": "10.7.0.1",
                                          "PeerName": peer}}},
        {"Check": {"Verb": "set", "Check": {"Node": name, "CheckID": "alive", "Name": "alive",
                                            "Status": "passing", "PeerName": peer}}}])
    assert reply.status == 200, reply.text
    node, check = reply.json()["Results"]
    assert (node["Node"]["PeerName"], check["Check"]["PeerName"]) == (peer, peer)
    assert [n["Node"] for n in agent.get(f"/v1/catalog/nodes?peer={peer}").json()] == [name]
    assert name not in [n["Node"] for n in agent.get("/v1/catalog/nodes").json()]
    [alive] = agent.get(f"/v1/health/node/{name}?peer={peer}").json()
    assert (alive["CheckID"], alive["PeerName"]) == ("alive", peer)
    got = agent.put("/v1/txn", [{"Node": {"Verb": "get", "Node": {"Node": name,
                                                                  "PeerName": peer}}}])
    assert got.json()["Results"][0]["Node"]["Address"] == "10.7.0.1"
    local = agent.put("/v1/txn", [{"Node": {"Verb": "get", "Node": {"Node": name}}}])
    assert local.status == 409
    assert local.json()["Errors"][0]["What"] == f'node "{name}" doesn\'t exist'
    gone = agent.put("/v1/txn", [{"Node": {"Verb": "delete", "Node": {"Node": name,
                                                                      "PeerName": peer}}}])
    assert gone.status == 200, gone.text
    assert agent.get(f"/v1/catalog/nodes?peer={peer}").json() == []


def test_a_service_ops_peer_name_is_dropped_as_consuls_http_layer_does(agent, unique):
    peer, name, svc = f"p-{unique}", f"n-{unique}", f"s-{unique}"
    reply = agent.put("/v1/txn", [
        {"Node": {"Verb": "set", "Node": {"Node": name, "Address": "10.7.0.2"}}},
        {"Service": {"Verb": "set", "Node": name,
                     "Service": {"ID": svc, "Service": svc, "PeerName": peer}}}])
    assert reply.status == 200, reply.text
    assert "PeerName" not in reply.json()["Results"][1]["Service"]
    assert [s["Node"] for s in agent.get(f"/v1/catalog/service/{svc}").json()] == [name]
    assert agent.get(f"/v1/catalog/service/{svc}?peer={peer}").json() == []
