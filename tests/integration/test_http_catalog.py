"""/v1/catalog/* against a real agent: register, deregister and every catalog read."""

from __future__ import annotations

import uuid
from urllib.parse import quote


def register(agent, body):
    reply = agent.put("/v1/catalog/register", body)
    assert reply.status == 200, reply.text
    assert reply.json() is True
    return reply


def deregister(agent, body):
    reply = agent.put("/v1/catalog/deregister", body)
    assert reply.status == 200, reply.text
    assert reply.json() is True
    return reply


def docs_example(node, service):
    """The body of Consul's documented PUT /v1/catalog/register example."""
    return {
        "Datacenter": "dc1",
        "ID": str(uuid.uuid4()),
        "Node": node,
        "Address": "192.168.10.10",
        "TaggedAddresses": {"lan": "192.168.10.10", "wan": "10.0.10.10"},
        "NodeMeta": {"somekey": "somevalue"},
        "Service": {
            "ID": f"{service}1",
            "Service": service,
            "Tags": ["primary", "v1"],
            "Address": "127.0.0.1",
            "TaggedAddresses": {
                "lan": {"address": "127.0.0.1", "port": 8000},
                "wan": {"address": "198.18.0.1", "port": 80},
            },
            "Meta": {"redis_version": "4.0"},
            "Port": 8000,
        },
        "Check": {
            "Node": node,
            "CheckID": f"service:{service}1",
            "Name": "Redis health check",
            "Notes": "Script based health check",
            "Status": "passing",
            "ServiceID": f"{service}1",
            "Definition": {
                "TCP": "localhost:8888",
                "Interval": "5s",
                "Timeout": "1s",
                "DeregisterCriticalServiceAfter": "30s",
            },
        },
        "SkipNodeUpdate": False,
    }


# ---- register ----------------------------------------------------------------------


def test_register_docs_example(agent, unique):
    body = docs_example(unique, f"{unique}-redis")
    register(agent, body)
    found = agent.get(f"/v1/catalog/node/{unique}")
    assert found.status == 200
    node = found.json()["Node"]
    assert node["ID"] == body["ID"]
    assert node["Node"] == unique
    assert node["Address"] == "192.168.10.10"
    assert node["Datacenter"] == "dc1"
    assert node["TaggedAddresses"] == {"lan": "192.168.10.10", "wan": "10.0.10.10"}
    assert node["Meta"] == {"somekey": "somevalue"}
    assert node["CreateIndex"] == node["ModifyIndex"] >= 1
    service = found.json()["Services"][f"{unique}-redis1"]
    assert service["ID"] == f"{unique}-redis1"
    assert service["Service"] == f"{unique}-redis"
    assert service["Tags"] == ["primary", "v1"]
    assert service["Address"] == "127.0.0.1"
    assert service["TaggedAddresses"] == {
        "lan": {"Address": "127.0.0.1", "Port": 8000},
        "wan": {"Address": "198.18.0.1", "Port": 80},
    }
    assert service["Meta"] == {"redis_version": "4.0"}
    assert service["Port"] == 8000
    assert service["Weights"] == {"Passing": 1, "Warning": 1}
    (check,) = agent.get(f"/v1/health/node/{unique}").json()
    assert check["CheckID"] == f"service:{unique}-redis1"
    assert check["Name"] == "Redis health check"
    assert check["Notes"] == "Script based health check"
    assert check["Status"] == "passing"
    assert check["ServiceID"] == f"{unique}-redis1"
    assert check["ServiceName"] == f"{unique}-redis"
    assert check["ServiceTags"] == ["primary", "v1"]
    assert check["Type"] == "tcp"
    assert check["Definition"]["TCP"] == "localhost:8888"
    assert check["Definition"]["Interval"] == "5s"
    assert check["Definition"]["Timeout"] == "1s"
    assert check["Definition"]["DeregisterCriticalServiceAfter"] == "30s"


def test_register_reply_index_moves(agent, unique):
    before = agent.get("/v1/catalog/nodes").index
    register(agent, {"Node": unique, "Address": "10.0.0.1"})
    after = agent.get("/v1/catalog/nodes")
    assert after.index > before
    (node,) = [n for n in after.json() if n["Node"] == unique]
    assert node["CreateIndex"] == node["ModifyIndex"] == after.index


def test_service_id_defaults_to_name(agent, unique):
    register(agent, {"Node": unique, "Address": "10.0.0.1",
                     "Service": {"Service": unique, "Port": 80}})
    services = agent.get(f"/v1/catalog/node/{unique}").json()["Services"]
    assert list(services) == [unique]
    assert services[unique]["ID"] == unique
    (row,) = agent.get(f"/v1/catalog/service/{unique}").json()
    assert row["ServiceID"] == unique


def test_check_type_is_derived_from_definition(agent, unique):
    register(agent, {"Node": unique, "Address": "10.0.0.1", "Checks": [
        {"CheckID": "h", "Name": "h", "Definition": {"HTTP": "http://x/", "Interval": "10s"}},
        {"CheckID": "t", "Name": "t", "Definition": {"TCP": "x:1"}},
        {"CheckID": "g", "Name": "g", "Definition": {"GRPC": "x:2"}},
        {"CheckID": "u", "Name": "u", "Definition": {"UDP": "x:3"}},
        {"CheckID": "plain", "Name": "plain"},
    ]})
    checks = {c["CheckID"]: c for c in agent.get(f"/v1/health/node/{unique}").json()}
    assert {k: c["Type"] for k, c in checks.items()} == {
        "h": "http", "t": "tcp", "g": "grpc", "u": "udp", "plain": ""}
    # no status given: a new catalog check starts critical
    assert checks["plain"]["Status"] == "critical"


def test_check_id_defaults_to_name(agent, unique):
    register(agent, {"Node": unique, "Address": "10.0.0.1", "Check": {"Name": "mem"}})
    (check,) = agent.get(f"/v1/health/node/{unique}").json()
    assert (check["CheckID"], check["Name"], check["Node"]) == ("mem", "mem", unique)


def test_skip_node_update_keeps_address_and_meta(agent, unique):
    register(agent, {"Node": unique, "Address": "10.0.0.1", "NodeMeta": {"a": "1"},
                     "TaggedAddresses": {"wan": "1.1.1.1"}})
    before = agent.get(f"/v1/catalog/node/{unique}").json()["Node"]
    register(agent, {"Node": unique, "Address": "10.9.9.9", "NodeMeta": {"b": "2"},
                     "SkipNodeUpdate": True, "Service": {"Service": unique}})
    after = agent.get(f"/v1/catalog/node/{unique}").json()
    assert after["Node"] == before
    assert list(after["Services"]) == [unique]
    # without the flag the same request does update the node
    register(agent, {"Node": unique, "Address": "10.9.9.9", "NodeMeta": {"b": "2"}})
    node = agent.get(f"/v1/catalog/node/{unique}").json()["Node"]
    assert (node["Address"], node["Meta"]) == ("10.9.9.9", {"b": "2"})


def test_missing_address_without_skip_is_400(agent, unique):
    reply = agent.put("/v1/catalog/register", {"Node": unique})
    assert reply.status == 400
    assert "address" in reply.text
    assert agent.get(f"/v1/catalog/node/{unique}").json() is None


def test_missing_node_is_400(agent):
    reply = agent.put("/v1/catalog/register", {"Address": "10.0.0.1"})
    assert reply.status == 400
    assert reply.text == "Must provide node"


def test_service_on_unknown_check_service_is_400(agent, unique):
    register(agent, {"Node": unique, "Address": "10.0.0.1"})
    reply = agent.put("/v1/catalog/register", {
        "Node": unique, "Address": "10.0.0.1",
        "Check": {"CheckID": "c", "Name": "c", "ServiceID": "nope"}})
    assert reply.status == 400
    assert agent.get(f"/v1/health/node/{unique}").json() == []


def test_node_id_aliasing_another_node_is_400(agent, unique):
    node_id = str(uuid.uuid4())
    register(agent, {"Node": f"{unique}-a", "ID": node_id, "Address": "10.0.0.1"})
    reply = agent.put("/v1/catalog/register",
                      {"Node": f"{unique}-b", "ID": node_id, "Address": "10.0.0.2"})
    assert reply.status == 400
    assert "aliases" in reply.text
    assert f"{unique}-a" in reply.text
    assert agent.get(f"/v1/catalog/node/{unique}-b").json() is None
    # re-registering the owner with its own ID is fine
    register(agent, {"Node": f"{unique}-a", "ID": node_id, "Address": "10.0.0.3"})


# ---- deregister --------------------------------------------------------------------


def _populated_node(agent, node):
    register(agent, {"Node": node, "Address": "10.0.0.1",
                     "Service": {"ID": "s1", "Service": f"{node}-web"},
                     "Checks": [{"CheckID": "s1-check", "Name": "x", "ServiceID": "s1"},
                                {"CheckID": "node-check", "Name": "y"}]})
    register(agent, {"Node": node, "Address": "10.0.0.1",
                     "Service": {"ID": "s2", "Service": f"{node}-db"},
                     "Check": {"CheckID": "s2-check", "Name": "z", "ServiceID": "s2"}})


def _state(agent, node):
    found = agent.get(f"/v1/catalog/node/{node}").json()
    services = sorted(found["Services"]) if found else None
    checks = sorted(c["CheckID"] for c in agent.get(f"/v1/health/node/{node}").json())
    return services, checks


def test_deregister_check_removes_only_that_check(agent, unique):
    _populated_node(agent, unique)
    assert _state(agent, unique) == (["s1", "s2"], ["node-check", "s1-check", "s2-check"])
    deregister(agent, {"Node": unique, "CheckID": "node-check"})
    assert _state(agent, unique) == (["s1", "s2"], ["s1-check", "s2-check"])
    deregister(agent, {"Node": unique, "CheckID": "s1-check"})
    assert _state(agent, unique) == (["s1", "s2"], ["s2-check"])


def test_deregister_service_removes_it_and_its_checks(agent, unique):
    _populated_node(agent, unique)
    deregister(agent, {"Node": unique, "ServiceID": "s1"})
    assert _state(agent, unique) == (["s2"], ["node-check", "s2-check"])
    assert agent.get(f"/v1/catalog/service/{unique}-web").json() == []
    assert agent.get(f"/v1/health/checks/{unique}-web").json() == []
    assert len(agent.get(f"/v1/catalog/service/{unique}-db").json()) == 1
    assert f"{unique}-web" not in agent.get("/v1/catalog/services").json()


def test_deregister_node_removes_everything(agent, unique):
    _populated_node(agent, unique)
    register(agent, {"Node": f"{unique}-other", "Address": "10.0.0.2",
                     "Service": {"ID": "s1", "Service": f"{unique}-web"}})
    deregister(agent, {"Node": unique})
    assert _state(agent, unique) == (None, [])
    assert unique not in [n["Node"] for n in agent.get("/v1/catalog/nodes").json()]
    assert agent.get(f"/v1/catalog/service/{unique}-db").json() == []
    (row,) = agent.get(f"/v1/catalog/service/{unique}-web").json()
    assert row["Node"] == f"{unique}-other"
    # the other node is untouched
    assert _state(agent, f"{unique}-other") == (["s1"], [])


def test_deregister_unknown_things_is_fine(agent, unique):
    deregister(agent, {"Node": unique})
    deregister(agent, {"Node": unique, "ServiceID": "nope"})
    deregister(agent, {"Node": unique, "CheckID": "nope"})


def test_deregister_without_node_is_400(agent):
    reply = agent.put("/v1/catalog/deregister", {"ServiceID": "x"})
    assert (reply.status, reply.text) == (400, "Must provide node")


# ---- reads -------------------------------------------------------------------------


def test_datacenters(agent):
    reply = agent.get("/v1/catalog/datacenters")
    assert reply.status == 200
    assert reply.json() == ["dc1"]


def test_nodes_node_meta_and_filter(agent, unique):
    register(agent, {"Node": f"{unique}-a", "Address": "10.0.0.1",
                     "NodeMeta": {"group": unique, "role": "db"}})
    register(agent, {"Node": f"{unique}-b", "Address": "10.0.0.2",
                     "NodeMeta": {"group": unique, "role": "web"}})
    everything = [n["Node"] for n in agent.get("/v1/catalog/nodes").json()]
    assert {f"{unique}-a", f"{unique}-b"} <= set(everything)
    grouped = agent.get(f"/v1/catalog/nodes?node-meta=group:{unique}").json()
    assert sorted(n["Node"] for n in grouped) == [f"{unique}-a", f"{unique}-b"]
    both = agent.get(f"/v1/catalog/nodes?node-meta=group:{unique}&node-meta=role:web").json()
    assert [n["Node"] for n in both] == [f"{unique}-b"]
    assert agent.get("/v1/catalog/nodes?node-meta=group:nobody-has-this").json() == []
    expr = quote(f'Meta.group == "{unique}" and Address == "10.0.0.1"')
    filtered = agent.get(f"/v1/catalog/nodes?filter={expr}").json()
    assert [n["Node"] for n in filtered] == [f"{unique}-a"]


def test_services_maps_names_to_deduplicated_tags(agent, unique):
    register(agent, {"Node": f"{unique}-a", "Address": "10.0.0.1", "NodeMeta": {"g": unique},
                     "Service": {"Service": unique, "Tags": ["a", "b", "b"]}})
    register(agent, {"Node": f"{unique}-b", "Address": "10.0.0.2",
                     "Service": {"Service": unique, "Tags": ["b", "c"]}})
    register(agent, {"Node": f"{unique}-b", "Address": "10.0.0.2",
                     "Service": {"Service": f"{unique}-bare"}})
    services = agent.get("/v1/catalog/services").json()
    assert sorted(services[unique]) == ["a", "b", "c"]
    assert services[f"{unique}-bare"] == []
    only_a = agent.get(f"/v1/catalog/services?node-meta=g:{unique}").json()
    assert list(only_a) == [unique]
    assert sorted(only_a[unique]) == ["a", "b"]
    expr = quote(f'ServiceName == "{unique}-bare"')
    filtered = agent.get(f"/v1/catalog/services?filter={expr}")
    assert filtered.json() == {f"{unique}-bare": []}


def test_service_nodes_tags_node_meta_and_filter(agent, unique):
    register(agent, {"Node": f"{unique}-a", "Address": "10.0.0.1", "NodeMeta": {"rack": "r1"},
                     "Service": {"ID": "i1", "Service": unique, "Tags": ["Primary", "v1"],
                                 "Port": 1}})
    register(agent, {"Node": f"{unique}-b", "Address": "10.0.0.2", "NodeMeta": {"rack": "r2"},
                     "Service": {"ID": "i2", "Service": unique, "Tags": ["v1"], "Port": 2}})
    register(agent, {"Node": f"{unique}-b", "Address": "10.0.0.2", "NodeMeta": {"rack": "r2"},
                     "Service": {"ID": "i3", "Service": unique, "Port": 3}})

    def ids(query=""):
        reply = agent.get(f"/v1/catalog/service/{unique}{query}")
        assert reply.status == 200, reply.text
        return sorted(row["ServiceID"] for row in reply.json())

    assert ids() == ["i1", "i2", "i3"]
    assert ids("?tag=v1") == ["i1", "i2"]
    assert ids("?tag=v1&tag=primary") == ["i1"]
    assert ids("?tag=PRIMARY") == ["i1"]
    assert ids("?tag=v1&tag=nope") == []
    assert ids("?node-meta=rack:r2") == ["i2", "i3"]
    assert ids("?node-meta=rack:r2&tag=v1") == ["i2"]
    assert ids(f"?filter={quote('ServicePort != 1 and NodeMeta.rack == r2')}") == ["i2", "i3"]
    assert ids(f"?filter={quote('v1 in ServiceTags')}") == ["i1", "i2"]
    rows = {r["ServiceID"]: r for r in agent.get(f"/v1/catalog/service/{unique}").json()}
    assert rows["i3"]["ServiceTags"] == []
    assert rows["i1"]["Node"] == f"{unique}-a"
    assert rows["i1"]["Address"] == "10.0.0.1"
    assert rows["i1"]["NodeMeta"] == {"rack": "r1"}
    assert rows["i1"]["ServiceName"] == unique
    assert rows["i1"]["ServicePort"] == 1
    assert rows["i1"]["Datacenter"] == "dc1"


def test_unknown_service_is_empty_list(agent, unique):
    reply = agent.get(f"/v1/catalog/service/{unique}")
    assert reply.status == 200
    assert reply.body == b"[]"
    assert reply.index >= 1


def test_node_unknown_is_null(agent, unique):
    reply = agent.get(f"/v1/catalog/node/{unique}")
    assert reply.status == 200
    assert reply.body == b"null"
    assert reply.index >= 1


def test_node_services_and_service_tags_never_null(agent, unique):
    register(agent, {"Node": unique, "Address": "10.0.0.1",
                     "Service": {"ID": "x", "Service": f"{unique}-x", "Tags": ["t"]}})
    register(agent, {"Node": unique, "Address": "10.0.0.1",
                     "Service": {"ID": "y", "Service": f"{unique}-y"}})
    found = agent.get(f"/v1/catalog/node/{unique}").json()
    assert {k: s["Tags"] for k, s in found["Services"].items()} == {"x": ["t"], "y": []}
    listed = agent.get(f"/v1/catalog/node-services/{unique}")
    assert listed.status == 200
    body = listed.json()
    assert body["Node"]["Node"] == unique
    assert sorted((s["ID"], tuple(s["Tags"])) for s in body["Services"]) == [
        ("x", ("t",)), ("y", ())]
    filtered = agent.get(f"/v1/catalog/node-services/{unique}?filter={quote('ID == y')}")
    assert [s["ID"] for s in filtered.json()["Services"]] == ["y"]
    expr = quote(f'Service == "{unique}-x"')
    by_map = agent.get(f"/v1/catalog/node/{unique}?filter={expr}")
    assert list(by_map.json()["Services"]) == ["x"]


def test_node_services_unknown_node(agent, unique):
    reply = agent.get(f"/v1/catalog/node-services/{unique}")
    assert reply.status == 200
    assert reply.json() == {"Node": None, "Services": None}


def test_node_name_lookup_is_case_insensitive(agent, unique):
    register(agent, {"Node": unique.upper(), "Address": "10.0.0.1"})
    found = agent.get(f"/v1/catalog/node/{unique}").json()
    assert found["Node"]["Node"] == unique.upper()
