"""Generic HTTP behaviour of a real agent: errors, query parameters, headers, status, self."""

from __future__ import annotations

import json

import pytest

META_HEADERS = ("X-Consul-Index", "X-Consul-KnownLeader", "X-Consul-LastContact",
                "X-Consul-Effective-Consistency")


def register_node(agent, node, **extra):
    reply = agent.put("/v1/catalog/register", {"Node": node, "Address": "10.0.0.1", **extra})
    assert reply.status == 200, reply.text
    return reply


# ---- routing -------------------------------------------------------------------


def test_unknown_path_is_404_with_go_mux_text(agent):
    reply = agent.get("/v1/no/such/endpoint")
    assert reply.status == 404
    assert reply.text == "Invalid URL path: not a recognized HTTP API endpoint\n"


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("POST", "/v1/catalog/nodes", "OPTIONS,GET"),
    ("DELETE", "/v1/health/service/web", "OPTIONS,GET"),
    ("GET", "/v1/catalog/register", "OPTIONS,PUT"),
    ("POST", "/v1/kv/some/key", "OPTIONS,GET,PUT,DELETE"),
])
def test_wrong_method_is_405_with_allow(agent, method, path, allow):
    reply = agent.call(method, path)
    assert reply.status == 405
    assert reply.text == f"method {method} not allowed"
    assert reply.headers["Allow"] == allow


def test_options_lists_allowed_methods(agent):
    reply = agent.call("OPTIONS", "/v1/catalog/nodes")
    assert reply.status == 200
    assert reply.headers["Allow"] == "OPTIONS,GET"
    assert reply.body == b""


# ---- request bodies ------------------------------------------------------------


def test_malformed_json_is_400(agent, unique):
    reply = agent.put("/v1/catalog/register", b'{"Node": "' + unique.encode())
    assert reply.status == 400
    assert reply.text.startswith("Request decode failed: ")
    assert agent.get(f"/v1/catalog/node/{unique}").json() is None


def test_unknown_json_field_is_400(agent, unique):
    reply = agent.put("/v1/catalog/register",
                      {"Node": unique, "Address": "10.0.0.1", "Bogus": 1})
    assert reply.status == 400
    assert reply.text.startswith("Request decode failed: ")
    assert "Bogus" in reply.text
    assert agent.get(f"/v1/catalog/node/{unique}").json() is None


def test_wrongly_typed_field_is_400_not_500(agent, unique):
    reply = agent.put("/v1/catalog/register", {"Node": unique, "Address": ["10.0.0.1"]})
    assert reply.status == 400
    assert reply.text.startswith("Request decode failed: ")


def test_json_keys_match_case_insensitively_and_snake_case(agent, unique):
    body = {
        "node": unique, "ADDRESS": "10.0.0.7", "nodemeta": {"env": "ci"},
        "service": {"service": unique, "port": 81, "enable_tag_override": True,
                    "tagged_addresses": {"lan": {"address": "10.1.1.1", "port": 81}}},
        "checks": [{"checkid": "c1", "name": "c1", "service_id": unique,
                    "status": "passing"}],
    }
    assert agent.put("/v1/catalog/register", body).status == 200
    node = agent.get(f"/v1/catalog/node/{unique}").json()
    assert node["Node"]["Address"] == "10.0.0.7"
    assert node["Node"]["Meta"] == {"env": "ci"}
    service = node["Services"][unique]
    assert service["Port"] == 81
    assert service["EnableTagOverride"] is True
    assert service["TaggedAddresses"] == {"lan": {"Address": "10.1.1.1", "Port": 81}}
    checks = agent.get(f"/v1/health/node/{unique}").json()
    assert [(c["CheckID"], c["ServiceID"], c["Status"]) for c in checks] == [
        ("c1", unique, "passing")]


# ---- query parameters ----------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/catalog/nodes", "/v1/health/service/web",
                                  "/v1/kv/some/key"])
def test_bad_index_is_400(agent, path):
    reply = agent.get(f"{path}?index=abc")
    assert (reply.status, reply.text) == (400, "Invalid index")


@pytest.mark.parametrize("path", ["/v1/catalog/nodes", "/v1/health/service/web"])
def test_bad_wait_is_400(agent, path):
    reply = agent.get(f"{path}?index=1&wait=xx")
    assert (reply.status, reply.text) == (400, "Invalid wait time")


def test_negative_wait_is_a_valid_go_duration(agent):
    reply = agent.get("/v1/catalog/nodes?wait=-1s")
    assert reply.status == 200, reply.text


def test_stale_with_consistent_is_400(agent):
    reply = agent.get("/v1/catalog/nodes?stale&consistent")
    assert reply.status == 400
    assert reply.text == "Cannot specify ?stale with ?consistent, conflicting semantics."


@pytest.mark.parametrize(("query", "level"), [
    ("", "leader"), ("?stale", "stale"), ("?consistent", "consistent"),
    ("?max_stale=5s", "stale"),
])
def test_effective_consistency_header(agent, query, level):
    reply = agent.get(f"/v1/catalog/nodes{query}")
    assert reply.status == 200
    assert reply.headers["X-Consul-Effective-Consistency"] == level


def test_pretty_is_four_space_indented_with_newline(agent, unique):
    register_node(agent, unique, NodeMeta={"k": "v"})
    compact = agent.get(f"/v1/catalog/node/{unique}")
    pretty = agent.get(f"/v1/catalog/node/{unique}?pretty")
    assert pretty.status == 200
    assert not compact.text.endswith("\n")
    assert "\n" not in compact.text
    data = pretty.json()
    assert data == compact.json()
    assert pretty.text == json.dumps(data, indent=4, ensure_ascii=False) + "\n"
    assert '\n    "Node": {\n        "ID": ' in pretty.text


@pytest.mark.parametrize("path", ["/v1/catalog/nodes", "/v1/catalog/services",
                                  "/v1/health/service/web", "/v1/health/state/any",
                                  "/v1/kv/some/key", "/v1/status/leader"])
def test_other_datacenter_has_no_path(agent, path):
    reply = agent.get(f"{path}?dc=other")
    assert (reply.status, reply.text) == (500, "No path to datacenter")


def test_local_datacenter_by_name_is_fine(agent):
    assert agent.get("/v1/catalog/nodes?dc=dc1").status == 200


@pytest.mark.parametrize("path", ["/v1/catalog/nodes", "/v1/catalog/service/web",
                                  "/v1/health/service/web", "/v1/health/state/any",
                                  "/v1/health/node/foo", "/v1/catalog/node/foo"])
def test_filter_parse_error_is_400_naming_it(agent, path):
    reply = agent.get(f"{path}?filter=Node%20%3D%3D")
    assert reply.status == 400
    assert "boolean expression" in reply.text


def test_filter_on_unknown_field_is_400(agent):
    reply = agent.get("/v1/catalog/nodes?filter=NoSuchField%20%3D%3D%20x")
    assert reply.status == 400
    assert "NoSuchField" in reply.text


# ---- response headers ----------------------------------------------------------


@pytest.mark.parametrize("path", [
    "/v1/catalog/nodes", "/v1/catalog/services", "/v1/catalog/service/{u}",
    "/v1/catalog/node/{u}", "/v1/catalog/node-services/{u}", "/v1/health/node/{u}",
    "/v1/health/checks/{u}", "/v1/health/state/any", "/v1/health/service/{u}",
    "/v1/kv/{u}",
])
def test_blocking_capable_gets_carry_meta_headers(agent, unique, path):
    reply = agent.get(path.format(u=unique))
    assert reply.status in (200, 404)
    for header in META_HEADERS:
        assert header in reply.headers, header
    assert reply.headers["X-Consul-Index"] != "0"
    assert reply.index >= 1
    assert reply.headers["X-Consul-KnownLeader"] == "true"
    assert reply.headers["X-Consul-LastContact"] == "0"


def test_kv_miss_is_404_with_meta_headers(agent, unique):
    reply = agent.get(f"/v1/kv/{unique}")
    assert reply.status == 404
    assert reply.body == b""
    for header in META_HEADERS:
        assert header in reply.headers, header
    assert reply.index >= 1


def test_json_replies_are_application_json(agent):
    reply = agent.get("/v1/catalog/nodes")
    assert reply.headers["Content-Type"].startswith("application/json")


# ---- status and agent/self ------------------------------------------------------


def test_status_leader_and_peers(agent):
    leader = agent.get("/v1/status/leader")
    assert leader.status == 200
    address = leader.json()
    host, _, port = address.rpartition(":")
    assert host == agent.host
    assert port == str(agent.get("/v1/agent/self").json()["DebugConfig"]["ServerPort"])
    peers = agent.get("/v1/status/peers")
    assert peers.status == 200
    assert peers.json() == [address]


def test_agent_self(agent):
    reply = agent.get("/v1/agent/self")
    assert reply.status == 200
    body = reply.json()
    assert body["Config"]["Version"] == "1.22.0"
    assert body["Config"]["Datacenter"] == "dc1"
    assert body["Config"]["Server"] is True
    assert body["Member"]["Name"] == body["Config"]["NodeName"]
    assert body["Member"]["Addr"] == agent.host
    assert body["Meta"]["consul-version"] == "1.22.0"
    # the agent's own node is in the catalog under that name
    node = agent.get(f"/v1/catalog/node/{body['Config']['NodeName']}").json()
    assert node["Node"]["ID"] == body["Config"]["NodeID"]
