"""Config entries, intentions and the discovery chain through a real -dev agent's HTTP API."""

from __future__ import annotations

import datetime
from pathlib import Path

import msgspec
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from proconsul.agent.http.decode import MAX_DEPTH
from proconsul.structs.config_entries import decode
from proconsul.structs.config_entry_rpc import prepare
from tests.support.agent_process import AgentProcess, start_agent


def _cert_pair() -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "gw.example.com")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    pem_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), pem_key


CERT, KEY = _cert_pair()

# One entry of every kind Consul CE stores, as a client would PUT it (in an order that keeps
# every chain valid); sameness-group is an Enterprise kind CE refuses (see below).
EVERY_KIND = [
    {"Kind": "service-defaults", "Name": "rt-web", "Protocol": "http",
     "MeshGateway": {"Mode": "local"}, "Meta": {"team": "a"}},
    {"Kind": "proxy-defaults", "Name": "global", "Config": {"local_connect_timeout_ms": 1000}},
    {"Kind": "service-router", "Name": "rt-web",
     "Routes": [{"Match": {"HTTP": {"PathPrefix": "/admin"}},
                 "Destination": {"Service": "rt-web", "NumRetries": 2}}]},
    {"Kind": "service-resolver", "Name": "rt-web", "DefaultSubset": "stable",
     "Subsets": {"stable": {"Filter": "Service.Meta.v == 1"},
                 "canary": {"Filter": "Service.Meta.v == 2"}},
     "ConnectTimeout": "3s"},
    {"Kind": "service-splitter", "Name": "rt-web",
     "Splits": [{"Weight": 90}, {"Weight": 10, "ServiceSubset": "canary"}]},
    {"Kind": "service-intentions", "Name": "rt-db",
     "Sources": [{"Name": "rt-web", "Action": "allow"}, {"Name": "*", "Action": "deny"}]},
    {"Kind": "ingress-gateway", "Name": "rt-in",
     "Listeners": [{"Port": 8080, "Protocol": "tcp", "Services": [{"Name": "rt-db"}]}]},
    {"Kind": "terminating-gateway", "Name": "rt-term",
     "Services": [{"Name": "legacy", "SNI": "legacy.example.com"}]},
    {"Kind": "mesh", "TransparentProxy": {"MeshDestinationsOnly": True}},
    {"Kind": "exported-services", "Name": "default",
     "Services": [{"Name": "rt-web", "Consumers": [{"Peer": "other"}]}]},
    {"Kind": "api-gateway", "Name": "rt-gw",
     "Listeners": [{"Name": "http", "Port": 9090, "Protocol": "http"}]},
    {"Kind": "http-route", "Name": "rt-route", "Parents": [{"Kind": "api-gateway", "Name": "rt-gw"}],
     "Rules": [{"Services": [{"Name": "rt-web"}]}]},
    {"Kind": "tcp-route", "Name": "rt-tcp", "Parents": [{"Name": "rt-gw"}],
     "Services": [{"Name": "rt-db"}]},
    {"Kind": "inline-certificate", "Name": "rt-cert", "Certificate": CERT, "PrivateKey": KEY},
    {"Kind": "jwt-provider", "Name": "rt-okta",
     "JSONWebKeySet": {"Remote": {"URI": "https://okta.example.com/keys"}}},
    {"Kind": "control-plane-request-limit", "Name": "global", "Mode": "permissive",
     "ReadRate": 100.0},
]


def stored(body: dict) -> object:
    """An entry without its raft indexes, typed (so defaults compare equal)."""
    entry = decode({k: v for k, v in body.items() if k not in ("CreateIndex", "ModifyIndex")})
    return prepare(entry)


def path_of(raw: dict) -> str:
    return f"/v1/config/{raw['Kind']}/{raw.get('Name', raw['Kind'])}"


@pytest.mark.parametrize("raw", EVERY_KIND, ids=[r["Kind"] for r in EVERY_KIND])
def test_every_kind_round_trips(agent: AgentProcess, raw: dict):
    put = agent.put("/v1/config", raw)
    assert (put.status, put.text) == (200, "true")
    got = agent.get(path_of(raw))
    assert got.status == 200, got.text
    body = got.json()
    assert body["Kind"] == raw["Kind"]
    assert body["ModifyIndex"] == got.index and body["CreateIndex"] <= body["ModifyIndex"]
    assert stored(body) == stored(raw)
    listed = agent.get(f"/v1/config/{raw['Kind']}")
    assert stored(body) in [stored(e) for e in listed.json()]
    assert listed.index >= got.index


def test_snake_case_body_is_the_same_entry(agent: AgentProcess, unique: str):
    snake = {"kind": "service-resolver", "name": f"{unique}-s", "default_subset": "v1",
             "subsets": {"v1": {"filter": "Service.Meta.v == 1", "only_passing": True}},
             "connect_timeout": "2s"}
    assert agent.put("/v1/config", snake).text == "true"
    body = agent.get(f"/v1/config/service-resolver/{unique}-s").json()
    assert body["DefaultSubset"] == "v1" and body["ConnectTimeout"] == "2s"
    assert body["Subsets"]["v1"] == {"Filter": "Service.Meta.v == 1", "OnlyPassing": True}


def test_cas_wins_and_loses(agent: AgentProcess, unique: str):
    entry = {"Kind": "service-defaults", "Name": unique, "Protocol": "http"}
    path = f"/v1/config/service-defaults/{unique}"
    assert agent.put("/v1/config?cas=0", entry).text == "true"       # create if absent
    assert agent.put("/v1/config?cas=0", entry).text == "false"      # exists now
    index = agent.get(path).json()["ModifyIndex"]
    assert agent.put(f"/v1/config?cas={index + 100}", entry).text == "false"
    assert agent.put(f"/v1/config?cas={index}", {**entry, "Protocol": "grpc"}).text == "true"
    now = agent.get(path).json()
    assert (now["Protocol"], now["CreateIndex"]) == ("grpc", index)
    assert now["ModifyIndex"] > index
    assert agent.delete(f"{path}?cas={index}").text == "false"       # stale index
    assert agent.get(path).status == 200
    assert agent.delete(f"{path}?cas={now['ModifyIndex']}").text == "true"
    missing = agent.get(path)
    assert (missing.status, missing.text) == (
        404, f'Config entry not found for "service-defaults" / "{unique}"')
    assert missing.index >= now["ModifyIndex"]
    assert agent.delete(f"{path}?cas={now['ModifyIndex']}").text == "false"  # nothing there
    assert agent.delete(path).json() == {}                            # plain delete: {}


@pytest.mark.parametrize(("method", "path", "body", "status", "message"), [
    ("PUT", "/v1/config", {"Kind": "bogus", "Name": "x"}, 400,
     "Request decoding failed: invalid config entry kind: bogus"),
    ("PUT", "/v1/config", {"Name": "x"}, 400,
     "Request decoding failed: Payload does not contain a kind/Kind key at the top level"),
    ("PUT", "/v1/config", {"Kind": "service-defaults", "Name": "x", "Bogus": 1}, 400,
     'Request decoding failed: invalid config key "Bogus"'),
    ("PUT", "/v1/config", {"Kind": "service-defaults"}, 400, "Name is required"),
    ("PUT", "/v1/config", {"Kind": "proxy-defaults", "Name": "web"}, 400,
     'invalid name ("web"), only "global" is supported'),
    ("PUT", "/v1/config?cas=x", {"Kind": "service-defaults", "Name": "x"}, 400,
     "Invalid cas index: 'x'"),
    ("PUT", "/v1/config", {"Kind": "sameness-group", "Name": "sg",
                           "Members": [{"Peer": "other"}]}, 400,
     "sameness-groups are an enterprise-only feature"),
    ("PUT", "/v1/config", b"[" * 100_000, 400,
     f"Request decoding failed: nesting deeper than {MAX_DEPTH} levels"),
    ("POST", "/v1/discovery-chain/web", b"[" * 100_000, 400,
     f"Request decoding failed: nesting deeper than {MAX_DEPTH} levels"),
    ("GET", "/v1/config/bogus", None, 400, "invalid config entry kind: bogus"),
    ("GET", "/v1/config/bogus/x", None, 400, "invalid config entry kind: bogus"),
    ("DELETE", "/v1/config/bogus/x", None, 400, "invalid config entry kind: bogus"),
    ("DELETE", "/v1/config/service-defaults", None, 404,
     "Must provide both a kind and name to delete"),
    ("GET", "/v1/discovery-chain/", None, 400, "Missing chain name"),
    ("POST", "/v1/discovery-chain/web", {"OverrideMeshGateway": {"Mode": "bogus"}}, 400,
     "Invalid OverrideMeshGateway.Mode parameter"),
    ("GET", "/v1/connect/intentions/check?source=web", None, 400,
     "required query parameter 'destination' not set"),
    ("GET", "/v1/connect/intentions/match?name=web", None, 400,
     "required query parameter 'by' not set"),
    ("GET", "/v1/connect/intentions/match?by=up&name=web", None, 400,
     "'by' parameter must be one of 'source' or 'destination'"),
    ("GET", "/v1/connect/intentions/match?by=source", None, 400,
     "required query parameter 'name' not set"),
    ("POST", "/v1/connect/intentions", {"SourceName": "a", "DestinationName": "b"}, 400,
     "Action must be set to 'allow' or 'deny'"),
    ("POST", "/v1/connect/intentions", {"ID": "x", "SourceName": "a", "DestinationName": "b",
                                        "Action": "allow"}, 400,
     "ID must be empty when creating a new intention"),
    ("DELETE", "/v1/connect/intentions/00000000-0000-0000-0000-000000000000", None, 400,
     "Cannot delete non-existent intention: '00000000-0000-0000-0000-000000000000'"),
    ("GET", "/v1/connect/intentions/00000000-0000-0000-0000-000000000000", None, 404,
     "Intention not found"),
])
def test_bad_requests_get_consuls_answers(agent: AgentProcess, method, path, body, status,
                                          message):
    reply = agent.call(method, path, body)
    assert (reply.status, reply.text) == (status, message)


def test_a_write_that_breaks_a_chain_is_refused(agent: AgentProcess, unique: str):
    assert agent.put("/v1/config", {"Kind": "service-resolver", "Name": f"{unique}-a",
                                    "Redirect": {"Service": f"{unique}-b"}}).text == "true"
    cycle = agent.put("/v1/config", {"Kind": "service-resolver", "Name": f"{unique}-b",
                                     "Redirect": {"Service": f"{unique}-a"}})
    assert cycle.status == 400 and "circular" in cycle.text, cycle.text
    assert agent.get(f"/v1/config/service-resolver/{unique}-b").status == 404
    splitter = agent.put("/v1/config", {"Kind": "service-splitter", "Name": f"{unique}-c",
                                        "Splits": [{"Weight": 100}]})
    assert (splitter.status, splitter.text) == (400, (
        f'discovery chain "{unique}-c" uses a protocol "tcp" that does not permit advanced '
        "routing or splitting behavior"))


def test_discovery_chain_of_router_splitter_and_resolvers(agent: AgentProcess, unique: str):
    web, api = f"{unique}-web", f"{unique}-api"
    for raw in (
        {"Kind": "service-defaults", "Name": web, "Protocol": "http"},
        {"Kind": "service-defaults", "Name": api, "Protocol": "http"},
        {"Kind": "service-resolver", "Name": api,
         "Subsets": {"v1": {"Filter": "Service.Meta.version == v1"},
                     "v2": {"Filter": "Service.Meta.version == v2"}}},
        {"Kind": "service-splitter", "Name": api,
         "Splits": [{"Weight": 90, "ServiceSubset": "v1"}, {"Weight": 10, "ServiceSubset": "v2"}]},
        {"Kind": "service-router", "Name": web,
         "Routes": [{"Match": {"HTTP": {"PathPrefix": "/api"}},
                     "Destination": {"Service": api}}]},
    ):
        reply = agent.put("/v1/config", raw)
        assert reply.text == "true", reply.text
    got = agent.get(f"/v1/discovery-chain/{web}")
    chain = got.json()["Chain"]
    assert got.index == agent.get("/v1/config/service-router").index
    assert chain["Protocol"] == "http" and chain["StartNode"] == f"router:{web}.default.default"
    router = chain["Nodes"][f"router:{web}.default.default"]
    assert [r["NextNode"] for r in router["Routes"]] == [
        f"splitter:{api}.default.default", f"resolver:{web}.default.default.dc1"]
    splitter = chain["Nodes"][f"splitter:{api}.default.default"]
    assert [(s["Weight"], s["NextNode"]) for s in splitter["Splits"]] == [
        (90, f"resolver:v1.{api}.default.default.dc1"),
        (10, f"resolver:v2.{api}.default.default.dc1")]
    target = chain["Targets"][f"v2.{api}.default.default.dc1"]
    assert target["Subset"] == {"Filter": "Service.Meta.version == v2"}
    assert target["SNI"].startswith(f"v2.{api}.default.dc1.internal.")

    posted = agent.call("POST", f"/v1/discovery-chain/{unique}-plain?compile-dc=dc9",
                        {"override_protocol": "grpc", "OverrideConnectTimeout": "7s",
                         "OverrideMeshGateway": {"Mode": "local"}}).json()["Chain"]
    assert (posted["Protocol"], posted["Datacenter"]) == ("grpc", "dc9")
    resolver = posted["Nodes"][posted["StartNode"]]["Resolver"]
    assert resolver["ConnectTimeout"] == "7s"
    assert posted["Targets"][resolver["Target"]]["MeshGateway"] == {"Mode": "local"}


def test_legacy_and_exact_intention_apis_see_the_same_data(agent: AgentProcess, unique: str):
    web, db = f"{unique}-web", f"{unique}-db"
    created = agent.call("POST", "/v1/connect/intentions",
                         {"SourceName": web, "DestinationName": db, "Action": "allow",
                          "Description": "web may call db", "Meta": {"owner": "me"}})
    assert created.status == 200, created.text
    ixn_id = created.json()["ID"]
    by_id = agent.get(f"/v1/connect/intentions/{ixn_id}").json()
    exact = agent.get(f"/v1/connect/intentions/exact?source={web}&destination={db}").json()
    assert by_id == exact
    assert (by_id["ID"], by_id["Action"], by_id["Precedence"], by_id["SourceType"]) == (
        ixn_id, "allow", 9, "consul")
    assert by_id["Meta"] == {"owner": "me"} and by_id["CreatedAt"] == by_id["UpdatedAt"]
    assert by_id in agent.get("/v1/connect/intentions").json()
    entry = agent.get(f"/v1/config/service-intentions/{db}").json()
    assert [(s["Name"], s["LegacyID"]) for s in entry["Sources"]] == [(web, ixn_id)]

    again = agent.call("POST", "/v1/connect/intentions",
                       {"SourceName": web, "DestinationName": db, "Action": "deny"})
    assert (again.status, again.text) == (400, f'Sources[1] defines "{web}" more than once')

    updated = agent.put(f"/v1/connect/intentions/{ixn_id}",
                        {"SourceName": web, "DestinationName": db, "Action": "deny"})
    assert updated.status == 200, updated.text
    exact = agent.get(f"/v1/connect/intentions/exact?source={web}&destination={db}").json()
    assert (exact["ID"], exact["Action"], exact["CreatedAt"]) == (ixn_id, "deny",
                                                                  by_id["CreatedAt"])
    check = agent.get(f"/v1/connect/intentions/check?source={web}&destination={db}")
    assert check.json() == {"Allowed": False}
    assert agent.get(f"/v1/connect/intentions/check?source=other&destination={db}").json() \
        == {"Allowed": True}  # no intention matches: ACLs off, so allowed

    assert agent.delete(f"/v1/connect/intentions/{ixn_id}").json() is True
    assert agent.get(f"/v1/connect/intentions/{ixn_id}").status == 404
    assert agent.get(f"/v1/config/service-intentions/{db}").status == 404

    assert agent.put(f"/v1/connect/intentions/exact?source={web}&destination={db}",
                     {"Action": "allow"}).json() is True
    found = agent.get(f"/v1/connect/intentions/exact?source={web}&destination={db}").json()
    assert "ID" not in found and found["Action"] == "allow"
    legacy = agent.call("POST", "/v1/connect/intentions",
                        {"SourceName": "x", "DestinationName": db, "Action": "allow"})
    assert (legacy.status, legacy.text) == (400, (
        f'cannot use legacy intention API to edit intentions with a destination of "{db}" '
        "after editing them via a service-intentions config entry"))
    assert agent.delete(f"/v1/connect/intentions/exact?source={web}&destination={db}").json() \
        is True
    assert agent.get(f"/v1/connect/intentions/exact?source={web}&destination={db}").status \
        == 404


def test_match_orders_by_precedence(agent: AgentProcess, unique: str):
    db = f"{unique}-db"
    assert agent.put("/v1/config", {
        "Kind": "service-intentions", "Name": db,
        "Sources": [{"Name": "*", "Action": "deny"}, {"Name": f"{unique}-web",
                                                      "Action": "allow"}]}).text == "true"
    assert agent.put("/v1/config", {
        "Kind": "service-intentions", "Name": "*",
        "Sources": [{"Name": f"{unique}-web", "Action": "deny"}]}).text == "true"
    try:
        by_dest = agent.get(f"/v1/connect/intentions/match?by=destination&name={db}").json()
        assert [(i["SourceName"], i["DestinationName"], i["Precedence"])
                for i in by_dest[db]] == [(f"{unique}-web", db, 9), ("*", db, 8),
                                          (f"{unique}-web", "*", 6)]
        by_src = agent.get(
            f"/v1/connect/intentions/match?by=source&name={unique}-web&name=nobody").json()
        mine = [(i["DestinationName"], i["Action"], i["Precedence"])
                for i in by_src[f"{unique}-web"] if i["DestinationName"] in (db, "*")]
        assert mine == [(db, "allow", 9), (db, "deny", 8), ("*", "deny", 6)]
        assert {i["SourceName"] for i in by_src["nobody"]} == {"*"}  # only wildcards match
        allowed = agent.get(
            f"/v1/connect/intentions/check?source={unique}-web&destination={unique}-x").json()
        assert allowed == {"Allowed": False}  # the wildcard destination denies
    finally:
        agent.delete("/v1/config/service-intentions/*")


def test_bootstrap_entries_are_written_by_the_leader(tmp_path: Path):
    config = tmp_path / "entries.hcl"
    config.write_text("""
config_entries {
  bootstrap = [
    { kind = "proxy-defaults", name = "global", config { protocol = "http" } },
    { Kind = "service-defaults", Name = "web", Protocol = "grpc" },
  ]
}
""")
    agent = start_agent("-config-file", str(config))
    try:
        proxy = agent.get("/v1/config/proxy-defaults/global").json()
        assert proxy["Config"] == {"protocol": "http"}
        assert agent.get("/v1/config/service-defaults/web").json()["Protocol"] == "grpc"
        assert "config_entries" not in "".join(agent.log)  # acted on: no "not supported" warning
    finally:
        agent.stop()


def test_bad_bootstrap_entry_stops_start_up(tmp_path: Path):
    import subprocess
    import sys

    config = tmp_path / "bad.json"
    config.write_text(msgspec.json.encode(
        {"config_entries": {"bootstrap": [{"Kind": "service-defaults"}]}}).decode())
    result = subprocess.run([sys.executable, "-m", "proconsul", "agent", "-dev",
                             "-config-file", str(config)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1
    assert "config_entries.bootstrap[0]: Name is required" in result.stdout + result.stderr
