"""/v1/query against a real agent: CRUD, filters, templates, Near sorting, sessions, 400s."""

from __future__ import annotations

import pytest

from tests.support.agent_process import start_agent, wait_until


def register(agent, node: str, address: str, service: dict | None = None, *,
             node_meta: dict | None = None, checks: list[dict] | None = None) -> None:
    body = {"Node": node, "Address": address, "NodeMeta": node_meta}
    if service is not None:
        body["Service"] = service
    if checks:
        body["Checks"] = checks
    reply = agent.put("/v1/catalog/register", body)
    assert reply.status == 200, reply.text


def check(node: str, check_id: str, status: str, service_id: str = "") -> dict:
    return {"Node": node, "CheckID": check_id, "Name": check_id, "Status": status,
            "ServiceID": service_id}


@pytest.fixture(scope="module")
def agent():
    process = start_agent("-node", "pq-agent")
    try:
        # f1..f5 run "db" with tags, node and service meta, and checks in every state.
        register(process, "f1", "10.1.0.1", {"ID": "db", "Service": "db", "Tags": ["primary", "v1"],
                                             "Meta": {"version": "1"}},
                 node_meta={"rack": "a"}, checks=[check("f1", "db-ok", "passing", "db")])
        register(process, "f2", "10.1.0.2", {"ID": "db", "Service": "db", "Tags": ["replica", "v1"],
                                             "Meta": {"version": "2"}},
                 node_meta={"rack": "b"}, checks=[check("f2", "db-warn", "warning", "db")])
        register(process, "f3", "10.1.0.3", {"ID": "db", "Service": "db", "Tags": ["replica", "V2"],
                                             "Meta": {"version": "2"}},
                 node_meta={"rack": "a"}, checks=[check("f3", "db-down", "critical", "db")])
        register(process, "f4", "10.1.0.4", {"ID": "db", "Service": "db", "Tags": ["replica"]},
                 node_meta={"rack": "b"}, checks=[check("f4", "maint", "critical")])
        register(process, "f5", "10.1.0.5", {"ID": "db", "Service": "db"})
        # A service with a sidecar registered through the agent: the sidecar inherits "blue".
        reply = process.put("/v1/agent/service/register", {
            "Name": "web", "Port": 8080, "Tags": ["blue"],
            "Connect": {"SidecarService": {"Checks": [
                {"Name": "ok", "TTL": "10m", "Status": "passing"}]}}})
        assert reply.status == 200, reply.text
        wait_until(lambda: process.get("/v1/catalog/service/web-sidecar-proxy").json(),
                   what="the sidecar in the catalog")
        yield process
    finally:
        process.stop()


def create(agent, body: dict) -> str:
    reply = agent.call("POST", "/v1/query", body)
    assert reply.status == 200, reply.text
    return reply.json()["ID"]


def execute(agent, name: str, query: str = "") -> dict:
    reply = agent.get(f"/v1/query/{name}/execute{query}")
    assert reply.status == 200, reply.text
    return reply.json()


_names = iter(range(10_000))


@pytest.mark.parametrize("service,expected", [
    ({}, {"f1", "f2", "f5"}),  # warning passes, critical (service or node check) does not
    ({"OnlyPassing": True}, {"f1", "f5"}),
    ({"IgnoreCheckIDs": ["db-down", "maint"]}, {"f1", "f2", "f3", "f4", "f5"}),
    ({"Tags": ["replica"]}, {"f2"}),
    ({"Tags": ["v1", "!replica"]}, {"f1"}),
    ({"Tags": ["!v1"]}, {"f5"}),
    ({"Tags": ["v2"], "IgnoreCheckIDs": ["db-down"]}, {"f3"}),  # tags are case-insensitive
    ({"NodeMeta": {"rack": "a"}}, {"f1"}),
    ({"NodeMeta": {"rack": "b"}, "IgnoreCheckIDs": ["maint"]}, {"f2", "f4"}),
    ({"ServiceMeta": {"version": "2"}}, {"f2"}),
    ({"ServiceMeta": {"version": "2"}, "OnlyPassing": True}, set()),
    ({"ServiceMeta": {"version": "1"}, "NodeMeta": {"rack": "a"}, "Tags": ["primary"]}, {"f1"}),
])
def test_filters(agent, service, expected):
    name = f"filter-{next(_names)}"
    create(agent, {"Name": name, "Service": {"Service": "db", **service}})
    result = execute(agent, name)
    assert {n["Node"]["Node"] for n in result["Nodes"]} == expected
    assert result["Service"] == "db" and result["Datacenter"] == "dc1"
    assert result["Failovers"] == 0


def test_connect_finds_the_sidecar_that_inherited_its_parents_tags(agent):
    create(agent, {"Name": "web-blue", "Service": {"Service": "web", "Connect": True,
                                                   "Tags": ["blue"]}})
    [found] = execute(agent, "web-blue")["Nodes"]
    assert found["Service"]["Service"] == "web-sidecar-proxy"
    assert found["Service"]["Kind"] == "connect-proxy" and found["Service"]["Tags"] == ["blue"]
    create(agent, {"Name": "web-plain", "Service": {"Service": "web", "Tags": ["blue"]}})
    assert [n["Service"]["Service"] for n in execute(agent, "web-plain")["Nodes"]] == ["web"]
    forced = execute(agent, "web-plain", "?connect=true")["Nodes"]
    assert [n["Service"]["Service"] for n in forced] == ["web-sidecar-proxy"]
    create(agent, {"Name": "web-red", "Service": {"Service": "web", "Connect": True,
                                                  "Tags": ["red"]}})
    assert execute(agent, "web-red")["Nodes"] == []


def test_crud_and_response_shapes(agent):
    query_id = create(agent, {"Name": "crud", "Service": {"Service": "db"},
                              "DNS": {"TTL": "10s"}, "Token": "secret"})
    reply = agent.get(f"/v1/query/{query_id}")
    [query] = reply.json()
    assert query["ID"] == query_id and query["Name"] == "crud" and query["Token"] == "secret"
    assert query["Service"]["Failover"] == {"NearestN": 0, "Datacenters": None,
                                            "Targets": None}
    assert query["Template"] == {"Type": "", "Regexp": "", "RemoveEmptyTags": False}
    assert query["CreateIndex"] == query["ModifyIndex"] and reply.index >= query["ModifyIndex"]
    assert query_id in [q["ID"] for q in agent.get("/v1/query").json()]
    result = execute(agent, query_id, "?limit=1")
    assert len(result["Nodes"]) == 1 and result["DNS"] == {"TTL": "10s"}
    assert set(result) >= {"Service", "Nodes", "DNS", "Datacenter", "Failovers", "Index"}
    update = agent.put(f"/v1/query/{query_id}", {"ID": "ignored", "Name": "crud",
                                                 "Service": {"Service": "web"}})
    assert update.status == 200 and update.body == b""
    [updated] = agent.get(f"/v1/query/{query_id}").json()
    assert updated["Service"]["Service"] == "web"
    assert updated["CreateIndex"] == query["CreateIndex"]
    assert updated["ModifyIndex"] > query["ModifyIndex"]
    explained = agent.get("/v1/query/crud/explain").json()
    assert explained["Query"]["ID"] == query_id
    assert agent.delete(f"/v1/query/{query_id}").status == 200
    for path in (f"/v1/query/{query_id}", "/v1/query/crud/execute", "/v1/query/crud/explain"):
        reply = agent.get(path)
        assert (reply.status, reply.text) == (404, "Query not found")
    reply = agent.put("/v1/query/crud/execute")
    assert reply.status == 405 and reply.headers["Allow"] == "OPTIONS,GET"


def test_templates_match_the_longest_prefix_and_interpolate(agent):
    catch_all = create(agent, {"Name": "", "Template": {"Type": "name_prefix_match"},
                               "Service": {"Service": "${name.full}"}})
    geo = create(agent, {
        "Name": "geo-", "Template": {"Type": "name_prefix_match",
                                     "Regexp": "^geo-([a-z]+)-(.*)$", "RemoveEmptyTags": True},
        "Service": {"Service": "${match(1)}", "Tags": ["${match(2)}", "${match(7)}"],
                    "NodeMeta": {"seg": "${agent.segment}"},
                    "ServiceMeta": {"p": "${name.prefix}", "s": "${name.suffix}"}}})
    query = agent.get("/v1/query/geo-db-primary/explain").json()["Query"]
    assert query["ID"] == geo
    assert query["Service"]["Service"] == "db"
    assert query["Service"]["Tags"] == ["primary"]  # ${match(7)} rendered empty, then removed
    assert query["Service"]["NodeMeta"] == {"seg": ""}
    assert query["Service"]["ServiceMeta"] == {"p": "geo-", "s": "db-primary"}
    # The stored template is unchanged.
    [stored] = agent.get(f"/v1/query/{geo}").json()
    assert stored["Service"]["Service"] == "${match(1)}"
    assert agent.get("/v1/query/db/explain").json()["Query"]["ID"] == catch_all
    assert agent.get("/v1/query/db/explain").json()["Query"]["Service"]["Service"] == "db"
    assert {n["Node"]["Node"] for n in execute(agent, "db")["Nodes"]} == {"f1", "f2", "f5"}
    reply = agent.get(f"/v1/query/{geo}/execute")
    assert reply.status == 400
    assert reply.text == "prepared query templates can only be resolved up by name, not by ID"
    reply = agent.call("POST", "/v1/query", {"Name": "", "Template": {
        "Type": "name_prefix_match"}, "Service": {"Service": "x"}})
    assert (reply.status, reply.text) == (
        400, "a query template with an empty name already exists")
    for query_id in (catch_all, geo):
        assert agent.delete(f"/v1/query/{query_id}").status == 200


def set_coordinate(agent, node: str, x: float) -> None:
    vec = [x] + [0.0] * 7
    reply = agent.put("/v1/coordinate/update", {"Node": node, "Coord": {
        "Vec": vec, "Error": 0.1, "Adjustment": 0.0, "Height": 1e-5}})
    assert reply.status == 200, reply.text


def test_near_sorts_by_rtt_from_coordinates(agent):
    for i, x in enumerate([0.0, 0.030, 0.012, 0.020]):
        register(agent, f"near{i}", f"10.2.0.{i + 1}", {"ID": "cache", "Service": "cache"})
        set_coordinate(agent, f"near{i}", x)

    def stored() -> bool:
        nodes = {c["Node"] for c in agent.get("/v1/coordinate/nodes").json()}
        return {"near0", "near1", "near2", "near3"} <= nodes

    wait_until(stored, what="the coordinates to be stored")
    create(agent, {"Name": "cache-near", "Service": {"Service": "cache", "Near": "near1"}})
    order = [n["Node"]["Node"] for n in execute(agent, "cache-near")["Nodes"]]
    assert order == ["near1", "near3", "near2", "near0"]
    # ?near overrides the query's Near.
    order = [n["Node"]["Node"] for n in execute(agent, "cache-near", "?near=near0")["Nodes"]]
    assert order == ["near0", "near2", "near3", "near1"]
    order = [n["Node"]["Node"] for n in execute(agent, "cache-near", "?near=near2&limit=2")[
        "Nodes"]]
    assert order == ["near2", "near3"]
    # near=_ip: the node whose address is the caller's (X-Forwarded-For first).
    reply = agent.get("/v1/query/cache-near/execute?near=_ip",
                      headers={"X-Forwarded-For": "10.2.0.3, 10.9.9.9"})
    assert [n["Node"]["Node"] for n in reply.json()["Nodes"]] == [
        "near2", "near3", "near0", "near1"]


def test_near_agent_puts_the_agents_own_instance_first(agent):
    reply = agent.put("/v1/agent/service/register", {"Name": "local-first", "Port": 1})
    assert reply.status == 200
    register(agent, "remote-lf", "10.3.0.1", {"ID": "lf", "Service": "local-first"})
    wait_until(lambda: len(agent.get("/v1/catalog/service/local-first").json()) == 2,
               what="both instances")
    create(agent, {"Name": "lf", "Service": {"Service": "local-first", "Near": "_agent"}})
    for _ in range(5):
        assert execute(agent, "lf")["Nodes"][0]["Node"]["Node"] == "pq-agent"


def test_queries_bound_to_a_session_vanish_with_it(agent):
    session_id = agent.put("/v1/session/create").json()["ID"]
    bound = create(agent, {"Session": session_id, "Service": {"Service": "db"}})
    named = create(agent, {"Name": "bound-named", "Session": session_id,
                           "Service": {"Service": "db"}})
    assert len(execute(agent, bound)["Nodes"]) == 3
    assert agent.put(f"/v1/session/destroy/{session_id}").status == 200
    for query_id in (bound, named):
        assert agent.get(f"/v1/query/{query_id}").status == 404


@pytest.mark.parametrize("body,message", [
    ({"Name": "x"}, "Invalid prepared query: Must provide a Service name to query"),
    ({"Service": {"Service": "db"}}, "Invalid prepared query: Must be bound to a session"),
    ({"Name": "x", "Service": {"Service": "db", "Failover": {"NearestN": -1}}},
     "Invalid prepared query: Bad NearestN '-1', must be >= 0"),
    ({"Name": "x", "Service": {"Service": "db"}, "DNS": {"TTL": "soon"}},
     "Invalid prepared query: Bad DNS TTL 'soon': "),
    ({"Name": "x", "Service": {"Service": "db"}, "DNS": {"TTL": "-5s"}},
     "Invalid prepared query: DNS TTL '-5000000000', must be >=0"),
    ({"Name": "x", "Service": {"Service": "db"}, "Token": "<hidden>"},
     "Invalid prepared query: Bad Token '<hidden>', it looks like a query definition with a "
     "redacted token was submitted"),
    ({"ID": "abc", "Name": "x", "Service": {"Service": "db"}},
     "ID must be empty when creating a new prepared query"),
    ({"Name": "x", "Template": {"Type": "suffix"}, "Service": {"Service": "db"}},
     "failed compiling template: Bad Template.Type 'suffix'"),
    ({"Name": "x", "Template": {"Type": "name_prefix_match", "Regexp": "(["},
      "Service": {"Service": "db"}}, "failed compiling template: Bad Regexp: "),
    ({"Name": "x", "Template": {"Type": "name_prefix_match"}, "Service": {"Service": "${nope}"}},
     "failed compiling template: Bad evaluation for '${nope}' in Service.Service: "
     "unknown variable accessed: nope"),
    ({"Name": "x", "Template": {"Type": "name_prefix_match"}, "Service": {"Service": "${x"}},
     "failed compiling template: Bad format '${x' in Service.Service: "),
    ({"Name": "x", "Session": "00000000-0000-0000-0000-000000000000",
      "Service": {"Service": "db"}},
     'invalid session "00000000-0000-0000-0000-000000000000"'),
    ({"Name": "x", "Service": {"Service": "db", "Bogus": 1}}, "Request decode failed: "),
    ({"Name": "x", "Service": {"Service": "db", "NodeMeta": {"bad key": "v"}}},
     "Invalid prepared query: Couldn't load metadata pair ('bad key', 'v'): Key contains "
     "invalid characters"),
    ({"Name": "x", "Service": {"Service": "db", "NodeMeta": {"k": "v" * 513}}},
     "Invalid prepared query: Couldn't load metadata pair ('k', "),
])
def test_bad_queries_are_400s(agent, body, message):
    reply = agent.call("POST", "/v1/query", body)
    assert reply.status == 400 and reply.text.startswith(message), reply.text


def test_name_conflicts_and_other_400s(agent):
    first = create(agent, {"Name": "taken", "Service": {"Service": "db"}})
    reply = agent.call("POST", "/v1/query", {"Name": "TAKEN", "Service": {"Service": "db"}})
    assert (reply.status, reply.text) == (400, "name 'TAKEN' aliases an existing query name")
    reply = agent.call("POST", "/v1/query", {"Name": first, "Service": {"Service": "db"}})
    assert (reply.status, reply.text) == (400, f"name '{first}' aliases an existing query ID")
    missing = "11111111-2222-3333-4444-555555555555"
    reply = agent.put(f"/v1/query/{missing}", {"Name": "y", "Service": {"Service": "db"}})
    assert (reply.status, reply.text) == (
        400, f"Cannot modify non-existent prepared query: '{missing}'")
    reply = agent.get("/v1/query/taken/execute?limit=many")
    assert reply.status == 400 and reply.text.startswith("Bad limit: ")
    reply = agent.get("/v1/query/taken/execute?connect=maybe")
    assert reply.status == 400


def test_api_client(agent):
    from proconsul.api import Client, Config, QueryOptions

    queries = Client(Config(address=f"{agent.host}:{agent.port}")).prepared_query()
    query_id, _ = queries.create({"Name": "api-db", "Service": {"Service": "db",
                                                                "OnlyPassing": True}})
    [stored], meta = queries.get(query_id)
    assert stored["Name"] == "api-db" and meta.last_index >= stored["ModifyIndex"]
    assert query_id in [q["ID"] for q in queries.list()[0]]
    result, _ = queries.execute("api-db", QueryOptions(near="f5"), limit=5)
    assert [n["Node"]["Node"] for n in result["Nodes"]][0] == "f5"
    assert {n["Node"]["Node"] for n in result["Nodes"]} == {"f1", "f5"}
    assert queries.execute("api-db", limit=1)[0]["Nodes"][0]["Node"]["Node"] in {"f1", "f5"}
    stored["Service"]["Service"] = "web"
    queries.update(stored)
    assert queries.explain("api-db")[0]["Query"]["Service"]["Service"] == "web"
    assert [n["Service"]["Service"] for n in queries.execute("api-db", connect=True)[0][
        "Nodes"]] == ["web-sidecar-proxy"]
    queries.delete(query_id)
    assert not queries.exists(query_id)


def test_cached_execute_is_served_by_the_agent_cache(agent):
    create(agent, {"Name": "cached-db", "Service": {"Service": "db"}})
    first = agent.get("/v1/query/cached-db/execute?cached")
    assert first.status == 200 and first.headers["X-Cache"] == "MISS"
    again = agent.get("/v1/query/cached-db/execute?cached")
    assert again.headers["X-Cache"] == "HIT" and "Age" in again.headers
    assert again.json()["Nodes"] == first.json()["Nodes"]  # the same (shuffled) answer
    fresh = agent.get("/v1/query/cached-db/execute?cached",
                      headers={"Cache-Control": "max-age=0"})
    assert fresh.headers["X-Cache"] == "MISS"
    assert "X-Cache" not in agent.get("/v1/query/cached-db/execute").headers
