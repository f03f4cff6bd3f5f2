"""What every HTTP route needs from an ACL token, as data (read by test_acl_route_table).

Each ``(method, pattern)`` of the agent's router has one :class:`Route`: a request
to make, the rule that grants exactly what it needs, a near-miss rule that must
not be enough (read instead of write, a neighbouring name or prefix), and how a
denial shows (403, or a list filtered down to not showing ``marker``). A route
added to the router without an entry here fails the coverage test; one added
with an entry but without enforcement fails the walk.

Placeholders: ``{node}`` is the agent's node name; ``{session}``, ``{ixn}`` and
names captured by a seed step (the ``ID`` or ``AccessorID`` of its JSON reply)
are filled in.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

SERVICE = "acl-rt-svc"
TTL_CHECK = {"CheckID": "acl-rt-check", "Name": "acl-rt-check", "TTL": "10m"}
NODE_CHECK = {"CheckID": "acl-rt-nodecheck", "Name": "acl-rt-nodecheck", "TTL": "10m"}
CLIENT_URI = "spiffe://11111111-2222-3333-4444-555555555555.consul/ns/default/dc/dc1/svc/web"
COORD = {"Vec": [0.0] * 8, "Error": 1.5, "Adjustment": 0.0, "Height": 1e-5}
# a jwt auth method needs exactly one key source
JWT_CONFIG = {"JWTValidationPubKeys": [
    ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()]}
MESH_NODE = "acl-rt-mesh"  # holds a proxy of SERVICE and an ingress gateway fronting it
PROXY, GATEWAY = "acl-rt-proxy", "acl-rt-igw"
MESH_GW = "acl-rt-mgw"
# the TTL checks start critical: the query ignores them to find the instance
QUERY = {"Name": "acl-rt-q", "Service": {"Service": SERVICE, "IgnoreCheckIDs": [
    TTL_CHECK["CheckID"], NODE_CHECK["CheckID"]]}}

# made once with the management token before the walk
COMMON_SEEDS: tuple[tuple[str, str, Any, str], ...] = (
    ("PUT", "/v1/agent/service/register", {"Name": SERVICE, "Check": TTL_CHECK}, ""),
    ("PUT", "/v1/agent/check/register", NODE_CHECK, ""),
    ("PUT", "/v1/kv/acl-rt/k", "v", ""),
    ("PUT", "/v1/config", {"Kind": "service-defaults", "Name": SERVICE, "Protocol": "tcp"}, ""),
    ("PUT", "/v1/event/fire/acl-rt-ev", None, ""),
    ("PUT", "/v1/session/create", {}, "session"),
    ("POST", "/v1/connect/intentions",
     {"SourceName": "acl-rt-src", "DestinationName": SERVICE, "Action": "allow"}, "ixn"),
    ("PUT", "/v1/catalog/register",
     {"Node": MESH_NODE, "Address": "10.1.2.9",
      "Service": {"Kind": "connect-proxy", "Service": PROXY, "Port": 21000,
                  "Proxy": {"DestinationServiceName": SERVICE}}}, ""),
    ("PUT", "/v1/config",
     {"Kind": "ingress-gateway", "Name": GATEWAY,
      "Listeners": [{"Port": 8080, "Protocol": "tcp", "Services": [{"Name": SERVICE}]}]}, ""),
    ("PUT", "/v1/catalog/register",
     {"Node": MESH_NODE, "Address": "10.1.2.9",
      "Service": {"Kind": "ingress-gateway", "Service": GATEWAY, "Port": 8443}}, ""),
    ("POST", "/v1/query", QUERY, "query"),
)


@dataclass(frozen=True)
class Route:
    """One route's request and what it needs (``rule`` empty: open to every token)."""

    path: str
    rule: str = ""
    near: str = ""
    # 403 | filtered | txn (409 naming the op) | refused (every token alike, before ACLs)
    # | self (only a request without any token is refused)
    denied: str = "403"
    marker: str = ""  # in the body when allowed (and, for filtered routes, only then)
    body: Any = None
    seeds: tuple[tuple[str, str, Any, str], ...] = ()  # (method, path, body, capture ID as)
    stream: bool = False  # the reply streams: judge by the status line


def _r(kind: str, name: str, level: str, prefix: bool = False) -> str:
    block = f"{kind}_prefix" if prefix else kind
    return f'{block} "{name}" {{ policy = "{level}" }}\n'


AGENT_R, AGENT_W = _r("agent", "{node}", "read"), _r("agent", "{node}", "write")
NODE_R, NODE_W = _r("node", "{node}", "read"), _r("node", "{node}", "write")
SVC_R, SVC_W = _r("service", SERVICE, "read"), _r("service", SERVICE, "write")
SVC_NEAR = _r("service", "acl-rt-sv", "read") + _r("node", "{node}", "read")
SVC_NODE_R = SVC_R + NODE_R
MESH_NODE_R = _r("node", MESH_NODE, "read")
PROXY_NEAR = _r("service", PROXY, "read") + MESH_NODE_R  # the proxy, not what it fronts
GATEWAY_NEAR = _r("service", GATEWAY, "read") + MESH_NODE_R
QUERY_R, QUERY_W = _r("query", "acl-rt-q", "read"), _r("query", "acl-rt-q", "write")
QUERY_NEAR = _r("query", "acl-rt-x", "read", prefix=True)
OP_R, OP_W = 'operator = "read"\n', 'operator = "write"\n'
KR_R, KR_W = 'keyring = "read"\n', 'keyring = "write"\n'
SESS_R, SESS_W = _r("session", "{node}", "read"), _r("session", "{node}", "write")
ACL_R, ACL_W = 'acl = "read"\n', 'acl = "write"\n'
PEER_R, PEER_W = 'peering = "read"\n', 'peering = "write"\n'
# a well-formed token of another cluster whose servers cannot be reached: allowed, Establish
# gets as far as the dial (a 500), denied it stops at the ACL check
PEERING_TOKEN = base64.b64encode(json.dumps({
    "ServerAddresses": ["127.0.0.1:1"], "ServerName": "server.dc9.peering.x.consul",
    "PeerID": "5b1e6cb4-5ad2-4a4e-9d0e-1b1c2d3e4f51", "EstablishmentSecret": "s"}).encode()
    ).decode()
ANONYMOUS = "00000000-0000-0000-0000-000000000002"
GLOBAL_MANAGEMENT = "00000000-0000-0000-0000-000000000001"
NO_SUCH_ID = "5b1e6cb4-5ad2-4a4e-9d0e-1b1c2d3e4f50"


def _ixn(level: str, name: str = SERVICE) -> str:
    return f'service "{name}" {{ policy = "read" intentions = "{level}" }}\n'


ROUTES: dict[tuple[str, str], Route] = {
    # -- agent ---------------------------------------------------------------------
    ("GET", "/v1/agent/self"): Route("/v1/agent/self", AGENT_R, _r("agent", "other", "read")),
    ("GET", "/v1/agent/host"): Route("/v1/agent/host", OP_R, KR_W),
    ("GET", "/v1/agent/version"): Route("/v1/agent/version"),
    ("PUT", "/v1/agent/token/{slot}"): Route("/v1/agent/token/dns", AGENT_W, AGENT_R,
                                             body={"Token": ""}),
    ("GET", "/v1/agent/services"): Route("/v1/agent/services", SVC_R, SVC_NEAR, "filtered",
                                         SERVICE),
    ("GET", "/v1/agent/service/{id}"): Route(f"/v1/agent/service/{SERVICE}", SVC_R, SVC_NEAR),
    ("PUT", "/v1/agent/service/register"): Route(
        "/v1/agent/service/register", _r("service", "acl-rt-new", "write"),
        _r("service", "acl-rt-new", "read"), body={"Name": "acl-rt-new"}),
    ("PUT", "/v1/agent/service/deregister/{id}"): Route(
        "/v1/agent/service/deregister/acl-rt-gone", _r("service", "acl-rt-gone", "write"),
        _r("service", "acl-rt-gone", "read"),
        seeds=(("PUT", "/v1/agent/service/register", {"Name": "acl-rt-gone"}, ""),)),
    ("PUT", "/v1/agent/service/maintenance/{id}"): Route(
        f"/v1/agent/service/maintenance/{SERVICE}?enable=false", SVC_W, SVC_R),
    ("PUT", "/v1/agent/maintenance"): Route("/v1/agent/maintenance?enable=false", NODE_W, NODE_R),
    ("GET", "/v1/agent/checks"): Route("/v1/agent/checks", SVC_R, SVC_NEAR, "filtered",
                                       "acl-rt-check"),
    ("PUT", "/v1/agent/check/register"): Route(
        "/v1/agent/check/register", NODE_W, NODE_R,
        body={"CheckID": "acl-rt-new-check", "Name": "n", "TTL": "10m"}),
    ("PUT", "/v1/agent/check/deregister/{id}"): Route(
        "/v1/agent/check/deregister/acl-rt-gonecheck", NODE_W, NODE_R,
        seeds=(("PUT", "/v1/agent/check/register",
                {"CheckID": "acl-rt-gonecheck", "Name": "g", "TTL": "10m"}, ""),)),
    ("PUT", "/v1/agent/check/pass/{id}"): Route("/v1/agent/check/pass/acl-rt-check", SVC_W, SVC_R),
    ("PUT", "/v1/agent/check/warn/{id}"): Route("/v1/agent/check/warn/acl-rt-check", SVC_W, SVC_R),
    ("PUT", "/v1/agent/check/fail/{id}"): Route("/v1/agent/check/fail/acl-rt-check", SVC_W, SVC_R),
    ("PUT", "/v1/agent/check/update/{id}"): Route(
        "/v1/agent/check/update/acl-rt-nodecheck", NODE_W, NODE_R, body={"Status": "passing"}),
    ("GET", "/v1/agent/health/service/id/{id}"): Route(
        f"/v1/agent/health/service/id/{SERVICE}", SVC_R, SVC_NEAR),
    ("GET", "/v1/agent/health/service/name/{name}"): Route(
        f"/v1/agent/health/service/name/{SERVICE}", SVC_R, SVC_NEAR),
    ("PUT", "/v1/agent/reload"): Route("/v1/agent/reload", AGENT_W, AGENT_R),
    ("GET", "/v1/agent/metrics"): Route("/v1/agent/metrics", AGENT_R, _r("agent", "other", "write")),
    ("GET", "/v1/agent/monitor"): Route("/v1/agent/monitor", AGENT_R, _r("agent", "x", "read"),
                                        stream=True),
    ("GET", "/v1/agent/metrics/stream"): Route("/v1/agent/metrics/stream", AGENT_R,
                                               _r("agent", "x", "read"), stream=True),
    ("GET", "/v1/agent/members"): Route("/v1/agent/members", NODE_R, _r("node", "x", "read"),
                                        "filtered", '"Name":"{node}"'),
    ("PUT", "/v1/agent/join/{address}"): Route("/v1/agent/join/{lan}", AGENT_W, AGENT_R),
    # success would stop the agent: its allowed side is test_leave_needs_agent_write
    ("PUT", "/v1/agent/leave"): Route("/v1/agent/leave", AGENT_W, AGENT_R),
    ("PUT", "/v1/agent/force-leave/{node}"): Route("/v1/agent/force-leave/acl-rt-nobody",
                                                   OP_W, OP_R),
    ("GET", "/v1/agent/connect/ca/roots"): Route("/v1/agent/connect/ca/roots"),
    ("GET", "/v1/agent/connect/ca/leaf/{service}"): Route(
        f"/v1/agent/connect/ca/leaf/{SERVICE}", SVC_W, SVC_R),
    ("POST", "/v1/agent/connect/authorize"): Route(
        "/v1/agent/connect/authorize", SVC_W, SVC_R,
        body={"Target": SERVICE, "ClientCertURI": CLIENT_URI}),
    # -- catalog / health / coordinates ----------------------------------------------
    ("PUT", "/v1/catalog/register"): Route(
        "/v1/catalog/register", _r("node", "acl-rt-ext", "write"), _r("node", "acl-rt-ext", "read"),
        body={"Node": "acl-rt-ext", "Address": "10.1.2.3"}),
    ("PUT", "/v1/catalog/deregister"): Route(
        "/v1/catalog/deregister", _r("node", "acl-rt-ext2", "write"),
        _r("node", "acl-rt-ext", "write"),
        body={"Node": "acl-rt-ext2"},
        seeds=(("PUT", "/v1/catalog/register", {"Node": "acl-rt-ext2", "Address": "10.1.2.4"},
                ""),)),
    ("GET", "/v1/catalog/datacenters"): Route("/v1/catalog/datacenters"),
    ("GET", "/v1/catalog/nodes"): Route("/v1/catalog/nodes", NODE_R, _r("node", "x", "read"),
                                        "filtered", '"Node":"{node}"'),
    ("GET", "/v1/catalog/services"): Route("/v1/catalog/services", SVC_R, SVC_NEAR, "filtered",
                                           SERVICE),
    ("GET", "/v1/catalog/service/{service}"): Route(
        f"/v1/catalog/service/{SERVICE}", SVC_NODE_R, SVC_R, "filtered", SERVICE),
    ("GET", "/v1/catalog/node/{node}"): Route("/v1/catalog/node/{node}", NODE_R,
                                              _r("node", "x", "read"), "filtered", "{node}"),
    ("GET", "/v1/catalog/node-services/{node}"): Route(
        "/v1/catalog/node-services/{node}", NODE_R, _r("node", "x", "read"), "filtered",
        "{node}"),
    ("GET", "/v1/health/node/{node}"): Route("/v1/health/node/{node}", NODE_R,
                                             _r("node", "x", "read"), "filtered", "serfHealth"),
    ("GET", "/v1/health/checks/{service}"): Route(f"/v1/health/checks/{SERVICE}", SVC_NODE_R,
                                                  SVC_R, "filtered", "acl-rt-check"),
    ("GET", "/v1/health/state/{state}"): Route("/v1/health/state/any", SVC_NODE_R, SVC_R,
                                               "filtered", "acl-rt-check"),
    ("GET", "/v1/health/service/{service}"): Route(f"/v1/health/service/{SERVICE}", SVC_NODE_R,
                                                   SVC_R, "filtered", SERVICE),
    # a service's proxies and gateways: service:read on it, then on each row and its node
    ("GET", "/v1/catalog/connect/{service}"): Route(
        f"/v1/catalog/connect/{SERVICE}", SVC_R + PROXY_NEAR, PROXY_NEAR, "filtered", PROXY),
    ("GET", "/v1/health/connect/{service}"): Route(
        f"/v1/health/connect/{SERVICE}", SVC_R + PROXY_NEAR, PROXY_NEAR, "filtered", PROXY),
    ("GET", "/v1/health/ingress/{service}"): Route(
        f"/v1/health/ingress/{SERVICE}", SVC_R + GATEWAY_NEAR, GATEWAY_NEAR, "filtered",
        GATEWAY),
    ("GET", "/v1/catalog/gateway-services/{gateway}"): Route(
        f"/v1/catalog/gateway-services/{GATEWAY}", _r("service", GATEWAY, "read") + SVC_R,
        SVC_R, marker=f'"Name":"{SERVICE}"'),
    ("GET", "/v1/coordinate/datacenters"): Route("/v1/coordinate/datacenters"),
    ("GET", "/v1/coordinate/nodes"): Route("/v1/coordinate/nodes", NODE_R,
                                           _r("node", "x", "read"), "filtered", "{node}"),
    ("GET", "/v1/coordinate/node/{node}"): Route("/v1/coordinate/node/{node}", NODE_R,
                                                 _r("node", "x", "read"), "filtered", "{node}"),
    ("PUT", "/v1/coordinate/update"): Route("/v1/coordinate/update", NODE_W, NODE_R,
                                            body={"Node": "{node}", "Coord": COORD}),
    # -- KV, sessions, transactions ------------------------------------------------------
    ("GET", "/v1/kv/{key}"): Route("/v1/kv/acl-rt/k", _r("key", "acl-rt/k", "read"),
                                   _r("key", "acl-rt/j", "read", prefix=True), marker="acl-rt/k",
                                   seeds=(("PUT", "/v1/kv/acl-rt/k", "v", ""),)),
    ("PUT", "/v1/kv/{key}"): Route("/v1/kv/acl-rt/w", _r("key", "acl-rt/w", "write"),
                                   _r("key", "acl-rt/w", "read"), body="x"),
    ("DELETE", "/v1/kv/{key}"): Route("/v1/kv/acl-rt/del", _r("key", "acl-rt/del", "write"),
                                      _r("key", "acl-rt/de", "write")),
    ("GET", "/v1/kv"): Route("/v1/kv?recurse", _r("key", "acl-rt/", "read", prefix=True),
                             _r("key", "acl-rt/x", "read", prefix=True), "filtered", "acl-rt/k",
                             seeds=(("PUT", "/v1/kv/acl-rt/k", "v", ""),)),
    ("PUT", "/v1/kv"): Route("/v1/kv", denied="refused", body="x"),
    # near miss: write on every key but one, which a recursive delete also needs
    ("DELETE", "/v1/kv"): Route("/v1/kv?recurse", _r("key", "", "write", prefix=True),
                                _r("key", "", "write", prefix=True)
                                + _r("key", "acl-rt/k", "deny")),
    ("PUT", "/v1/session/create"): Route("/v1/session/create", SESS_W, SESS_R, body={}),
    ("PUT", "/v1/session/destroy/{id}"): Route(
        "/v1/session/destroy/{session2}", SESS_W, SESS_R,
        seeds=(("PUT", "/v1/session/create", {}, "session2"),)),
    ("GET", "/v1/session/info/{id}"): Route("/v1/session/info/{session}", SESS_R,
                                            _r("session", "x", "read"), "filtered", "{session}"),
    ("PUT", "/v1/session/renew/{id}"): Route("/v1/session/renew/{session}", SESS_W, SESS_R),
    ("GET", "/v1/session/node/{node}"): Route("/v1/session/node/{node}", SESS_R,
                                              _r("session", "x", "read"), "filtered", "{session}"),
    ("GET", "/v1/session/list"): Route("/v1/session/list", SESS_R, _r("session", "x", "read"),
                                       "filtered", "{session}"),
    ("PUT", "/v1/txn"): Route(
        "/v1/txn", _r("key", "acl-rt/txn", "write"), _r("key", "acl-rt/txn", "read"), "txn",
        body=[{"KV": {"Verb": "set", "Key": "acl-rt/txn", "Value": "eA=="}}]),
    # -- snapshot (management only: acl = "write") ------------------------------------
    ("GET", "/v1/snapshot"): Route("/v1/snapshot", ACL_W, ACL_R),
    ("PUT", "/v1/snapshot"): Route("/v1/snapshot", ACL_W, ACL_R, body="not an archive"),
    # -- operator ------------------------------------------------------------------------
    ("GET", "/v1/operator/keyring"): Route("/v1/operator/keyring", KR_R, OP_W),
    ("POST", "/v1/operator/keyring"): Route("/v1/operator/keyring", KR_W, KR_R,
                                            body={"Key": "pUqJrVyVRj5jsiYEkM/tFQ=="}),
    ("PUT", "/v1/operator/keyring"): Route("/v1/operator/keyring", KR_W, KR_R,
                                           body={"Key": "pUqJrVyVRj5jsiYEkM/tFQ=="}),
    ("DELETE", "/v1/operator/keyring"): Route("/v1/operator/keyring", KR_W, KR_R,
                                              body={"Key": "pUqJrVyVRj5jsiYEkM/tFQ=="}),
    ("GET", "/v1/operator/raft/configuration"): Route("/v1/operator/raft/configuration", OP_R,
                                                      KR_W),
    ("DELETE", "/v1/operator/raft/peer"): Route("/v1/operator/raft/peer?address=10.9.9.9:8300",
                                                OP_W, OP_R),
    ("POST", "/v1/operator/raft/transfer-leader"): Route("/v1/operator/raft/transfer-leader",
                                                         OP_W, OP_R),
    ("GET", "/v1/operator/autopilot/configuration"): Route(
        "/v1/operator/autopilot/configuration", OP_R, KR_W),
    ("PUT", "/v1/operator/autopilot/configuration"): Route(
        "/v1/operator/autopilot/configuration", OP_W, OP_R, body={"CleanupDeadServers": True}),
    ("GET", "/v1/operator/autopilot/health"): Route("/v1/operator/autopilot/health", OP_R, KR_W),
    ("GET", "/v1/operator/autopilot/state"): Route("/v1/operator/autopilot/state", OP_R, KR_W),
    ("GET", "/v1/status/leader"): Route("/v1/status/leader"),
    ("GET", "/v1/status/peers"): Route("/v1/status/peers"),
    ("GET", "/v1/operator/usage"): Route("/v1/operator/usage", OP_R, KR_W),
    ("GET", "/v1/operator/federation"): Route("/v1/operator/federation", OP_R, KR_W),
    # -- events --------------------------------------------------------------------------
    ("PUT", "/v1/event/fire/{name}"): Route("/v1/event/fire/acl-rt-ev",
                                            _r("event", "acl-rt-ev", "write"),
                                            _r("event", "acl-rt-ev", "read")),
    ("GET", "/v1/event/list"): Route("/v1/event/list", _r("event", "acl-rt-ev", "read"),
                                     _r("event", "acl-rt-x", "read", prefix=True), "filtered",
                                     "acl-rt-ev"),
    # -- Connect CA, config entries, intentions -------------------------------------------
    ("GET", "/v1/connect/ca/roots"): Route("/v1/connect/ca/roots"),
    # beyond Consul: built from the CA configuration, so it asks what reading that does
    ("GET", "/v1/connect/ca/health"): Route("/v1/connect/ca/health", OP_W, OP_R),
    ("GET", "/v1/connect/ca/configuration"): Route("/v1/connect/ca/configuration", OP_W, OP_R),
    ("PUT", "/v1/connect/ca/configuration"): Route(
        "/v1/connect/ca/configuration", OP_W, OP_R,
        body={"Provider": "consul", "Config": {"LeafCertTTL": "72h"}}),
    ("PUT", "/v1/config"): Route(
        "/v1/config", SVC_W, SVC_R,
        body={"Kind": "service-defaults", "Name": SERVICE, "Protocol": "tcp"}),
    ("GET", "/v1/config/"): Route("/v1/config/", SVC_R, SVC_NEAR, "filtered", SERVICE),
    ("GET", "/v1/config/{kind}"): Route("/v1/config/service-defaults", SVC_R, SVC_NEAR,
                                        "filtered", SERVICE),
    ("DELETE", "/v1/config/{kind}"): Route("/v1/config/service-defaults", denied="refused"),
    ("GET", "/v1/config/{kind}/{name}"): Route(f"/v1/config/service-defaults/{SERVICE}", SVC_R,
                                               SVC_NEAR),
    ("DELETE", "/v1/config/{kind}/{name}"): Route(
        "/v1/config/service-defaults/acl-rt-del", _r("service", "acl-rt-del", "write"),
        _r("service", "acl-rt-del", "read"),
        seeds=(("PUT", "/v1/config", {"Kind": "service-defaults", "Name": "acl-rt-del"}, ""),)),
    ("GET", "/v1/discovery-chain/{service}"): Route(f"/v1/discovery-chain/{SERVICE}", SVC_R,
                                                    SVC_NEAR),
    ("GET", "/v1/exported-services"): Route("/v1/exported-services", 'mesh = "read"\n',
                                            'peering = "read"\n' + SVC_R),
    ("POST", "/v1/discovery-chain/{service}"): Route(f"/v1/discovery-chain/{SERVICE}", SVC_R,
                                                     SVC_NEAR, body={}),
    ("GET", "/v1/connect/intentions"): Route("/v1/connect/intentions", _ixn("read"), SVC_NEAR,
                                             "filtered", "acl-rt-src"),
    ("POST", "/v1/connect/intentions"): Route(
        "/v1/connect/intentions", _ixn("write", "acl-rt-new-dst"), _ixn("read", "acl-rt-new-dst"),
        body={"SourceName": "acl-rt-src", "DestinationName": "acl-rt-new-dst",
              "Action": "allow"}),
    ("GET", "/v1/connect/intentions/exact"): Route(
        f"/v1/connect/intentions/exact?source=acl-rt-src&destination={SERVICE}", _ixn("read"),
        SVC_NEAR, "filtered", "acl-rt-src"),
    ("PUT", "/v1/connect/intentions/exact"): Route(
        f"/v1/connect/intentions/exact?source=acl-rt-src2&destination={SERVICE}",
        _ixn("write"), _ixn("read"), body={"Action": "deny"}),
    ("DELETE", "/v1/connect/intentions/exact"): Route(
        f"/v1/connect/intentions/exact?source=acl-rt-src3&destination={SERVICE}",
        _ixn("write"), _ixn("read"),
        seeds=(("PUT", f"/v1/connect/intentions/exact?source=acl-rt-src3&destination={SERVICE}",
                {"Action": "deny"}, ""),)),
    ("GET", "/v1/connect/intentions/check"): Route(
        f"/v1/connect/intentions/check?source=acl-rt-src&destination={SERVICE}", SVC_R,
        SVC_NEAR),
    ("GET", "/v1/connect/intentions/match"): Route(
        f"/v1/connect/intentions/match?by=destination&name={SERVICE}", _ixn("read"), SVC_NEAR,
        "filtered", "acl-rt-src"),
    ("GET", "/v1/connect/intentions/{id}"): Route(
        "/v1/connect/intentions/{ixn3}", _ixn("read", "acl-rt-ixn3"), SVC_NEAR, "filtered",
        "acl-rt-ixn3", seeds=(("POST", "/v1/connect/intentions",
                               {"SourceName": "acl-rt-src", "DestinationName": "acl-rt-ixn3",
                                "Action": "allow"}, "ixn3"),)),
    ("PUT", "/v1/connect/intentions/{id}"): Route(
        "/v1/connect/intentions/{ixn}", _ixn("write"), _ixn("read"),
        body={"SourceName": "acl-rt-src", "DestinationName": SERVICE, "Action": "allow"}),
    ("DELETE", "/v1/connect/intentions/{id}"): Route(
        "/v1/connect/intentions/{ixn2}", _ixn("write", "acl-rt-ixn2"),
        _ixn("read", "acl-rt-ixn2"),
        seeds=(("POST", "/v1/connect/intentions",
                {"SourceName": "acl-rt-src", "DestinationName": "acl-rt-ixn2",
                 "Action": "allow"}, "ixn2"),)),
    # -- prepared queries (query:read/write on the name; execute filters what it finds) ----
    ("GET", "/v1/query"): Route("/v1/query", QUERY_R, QUERY_NEAR, "filtered",
                                '"Name":"acl-rt-q"'),
    ("POST", "/v1/query"): Route(
        "/v1/query", _r("query", "acl-rt-newq", "write"), _r("query", "acl-rt-newq", "read"),
        body={"Name": "acl-rt-newq", "Service": {"Service": SERVICE}}),
    ("GET", "/v1/query/{id}"): Route("/v1/query/{query}", QUERY_R, QUERY_NEAR,
                                     marker='"Name":"acl-rt-q"'),
    ("PUT", "/v1/query/{id}"): Route("/v1/query/{query}", QUERY_W, QUERY_R, body=QUERY),
    ("DELETE", "/v1/query/{id}"): Route(
        "/v1/query/{qdel}", _r("query", "acl-rt-qdel", "write"),
        _r("query", "acl-rt-qdel", "read"),
        seeds=(("POST", "/v1/query", {"Name": "acl-rt-qdel", "Service": {"Service": SERVICE}},
                "qdel"),)),
    ("GET", "/v1/query/{id}/execute"): Route("/v1/query/{query}/execute", SVC_NODE_R, SVC_R,
                                             "filtered", '"Node":"{node}"'),
    ("GET", "/v1/query/{id}/explain"): Route("/v1/query/{query}/explain", QUERY_R, QUERY_NEAR,
                                             marker='"Name":"acl-rt-q"'),
    # -- ACL objects (acl:read to read, acl:write to write) -------------------------------
    ("PUT", "/v1/acl/bootstrap"): Route("/v1/acl/bootstrap", denied="refused"),  # done already
    ("GET", "/v1/acl/replication"): Route("/v1/acl/replication"),
    # any token may read itself; no token at all is "ACL not found"
    ("GET", "/v1/acl/token/self"): Route("/v1/acl/token/self", _r("node", "x", "read"),
                                         denied="self"),
    ("GET", "/v1/acl/tokens"): Route("/v1/acl/tokens", ACL_R, OP_W),
    ("GET", "/v1/acl/token/{id}"): Route(f"/v1/acl/token/{ANONYMOUS}", ACL_R, OP_W),
    ("PUT", "/v1/acl/token"): Route("/v1/acl/token", ACL_W, ACL_R, body={}),
    ("PUT", "/v1/acl/token/{id}"): Route(
        "/v1/acl/token/{tok}", ACL_W, ACL_R, body={"Description": "updated"},
        seeds=(("PUT", "/v1/acl/token", {}, "tok"),)),
    ("PUT", "/v1/acl/token/{id}/clone"): Route(
        "/v1/acl/token/{tok2}/clone", ACL_W, ACL_R, body={},
        seeds=(("PUT", "/v1/acl/token", {}, "tok2"),)),
    ("DELETE", "/v1/acl/token/{id}"): Route(
        "/v1/acl/token/{tok3}", ACL_W, ACL_R, seeds=(("PUT", "/v1/acl/token", {}, "tok3"),)),
    ("GET", "/v1/acl/policies"): Route("/v1/acl/policies", ACL_R, OP_W),
    ("GET", "/v1/acl/policy/{id}"): Route(f"/v1/acl/policy/{GLOBAL_MANAGEMENT}", ACL_R, OP_W),
    ("GET", "/v1/acl/policy/name/{name}"): Route("/v1/acl/policy/name/global-management",
                                                 ACL_R, OP_W),
    ("PUT", "/v1/acl/policy"): Route("/v1/acl/policy", ACL_W, ACL_R, body={"Name": "rt-new"}),
    ("PUT", "/v1/acl/policy/{id}"): Route(
        "/v1/acl/policy/{pol}", ACL_W, ACL_R, body={"Name": "rt-pol", "Description": "u"},
        seeds=(("PUT", "/v1/acl/policy", {"Name": "rt-pol"}, "pol"),)),
    ("DELETE", "/v1/acl/policy/{id}"): Route(
        "/v1/acl/policy/{pol2}", ACL_W, ACL_R,
        seeds=(("PUT", "/v1/acl/policy", {"Name": "rt-pol2"}, "pol2"),)),
    ("GET", "/v1/acl/roles"): Route("/v1/acl/roles", ACL_R, OP_W),
    ("GET", "/v1/acl/role/{id}"): Route(
        "/v1/acl/role/{role}", ACL_R, OP_W,
        seeds=(("PUT", "/v1/acl/role", {"Name": "rt-role"}, "role"),)),
    ("GET", "/v1/acl/role/name/{name}"): Route(
        "/v1/acl/role/name/rt-role-n", ACL_R, OP_W,
        seeds=(("PUT", "/v1/acl/role", {"Name": "rt-role-n"}, ""),)),
    ("PUT", "/v1/acl/role"): Route("/v1/acl/role", ACL_W, ACL_R, body={"Name": "rt-new-role"}),
    ("PUT", "/v1/acl/role/{id}"): Route(
        "/v1/acl/role/{role2}", ACL_W, ACL_R, body={"Name": "rt-role2", "Description": "u"},
        seeds=(("PUT", "/v1/acl/role", {"Name": "rt-role2"}, "role2"),)),
    ("DELETE", "/v1/acl/role/{id}"): Route(
        "/v1/acl/role/{role3}", ACL_W, ACL_R,
        seeds=(("PUT", "/v1/acl/role", {"Name": "rt-role3"}, "role3"),)),
    ("GET", "/v1/acl/auth-methods"): Route("/v1/acl/auth-methods", ACL_R, OP_W),
    ("GET", "/v1/acl/auth-method/{name}"): Route("/v1/acl/auth-method/rt-none", ACL_R, OP_W),
    ("PUT", "/v1/acl/auth-method"): Route("/v1/acl/auth-method", ACL_W, ACL_R,
                                          body={"Name": "rt-am", "Type": "jwt",
                                                "Config": JWT_CONFIG}),
    ("PUT", "/v1/acl/auth-method/{name}"): Route("/v1/acl/auth-method/rt-am2", ACL_W, ACL_R,
                                                 body={"Name": "rt-am2", "Type": "jwt",
                                                       "Config": JWT_CONFIG}),
    ("DELETE", "/v1/acl/auth-method/{name}"): Route("/v1/acl/auth-method/rt-none", ACL_W,
                                                    ACL_R),
    ("GET", "/v1/acl/binding-rules"): Route("/v1/acl/binding-rules", ACL_R, OP_W),
    ("GET", "/v1/acl/binding-rule/{id}"): Route(f"/v1/acl/binding-rule/{NO_SUCH_ID}", ACL_R,
                                                OP_W),
    ("PUT", "/v1/acl/binding-rule"): Route("/v1/acl/binding-rule", ACL_W, ACL_R,
                                           body={"AuthMethod": "rt-none", "BindType": "service",
                                                 "BindName": "x"}),
    ("PUT", "/v1/acl/binding-rule/{id}"): Route(
        f"/v1/acl/binding-rule/{NO_SUCH_ID}", ACL_W, ACL_R,
        body={"AuthMethod": "rt-none", "BindType": "service", "BindName": "x"}),
    ("DELETE", "/v1/acl/binding-rule/{id}"): Route(f"/v1/acl/binding-rule/{NO_SUCH_ID}", ACL_W,
                                                   ACL_R),
    ("GET", "/v1/acl/templated-policies"): Route("/v1/acl/templated-policies", ACL_R, OP_W),
    ("GET", "/v1/acl/templated-policy/name/{name}"): Route(
        "/v1/acl/templated-policy/name/builtin/dns", ACL_R, OP_W),
    ("POST", "/v1/acl/templated-policy/preview/{name}"): Route(
        "/v1/acl/templated-policy/preview/builtin/service", ACL_R, OP_W, body={"Name": "web"}),
    # the web UI's dumps: filtered as the catalog and health reads they gather
    ("GET", "/v1/internal/ui/nodes"): Route("/v1/internal/ui/nodes", NODE_R,
                                            _r("node", "x", "read"), "filtered",
                                            '"Node":"{node}"'),
    ("GET", "/v1/internal/ui/node/{node}"): Route("/v1/internal/ui/node/{node}", NODE_R,
                                                  _r("node", "x", "read"), "filtered",
                                                  '"Node":"{node}"'),
    ("GET", "/v1/internal/ui/services"): Route("/v1/internal/ui/services", SVC_NODE_R, SVC_R,
                                               "filtered", f'"Name":"{SERVICE}"'),
    ("GET", "/v1/internal/ui/catalog-overview"): Route(
        "/v1/internal/ui/catalog-overview", SVC_NODE_R, SVC_R, "filtered",
        f'"Name":"{SERVICE}"'),
    ("GET", "/v1/internal/ui/gateway-services-nodes/{gateway}"): Route(
        f"/v1/internal/ui/gateway-services-nodes/{GATEWAY}",
        _r("service", GATEWAY, "read") + SVC_NODE_R, SVC_NODE_R,
        marker=f'"Name":"{SERVICE}"'),
    ("GET", "/v1/internal/ui/service-topology/{service}"): Route(
        f"/v1/internal/ui/service-topology/{SERVICE}?kind=", SVC_R,
        _r("service", "acl-rt-sv", "read")),
    ("GET", "/v1/internal/ui/gateway-intentions/{gateway}"): Route(
        f"/v1/internal/ui/gateway-intentions/{GATEWAY}", _r("service", GATEWAY, "read") +
        _ixn("read"), _ixn("read"), marker="acl-rt-src"),
    # filtered by service:read, but the walk has no peering: a 404 for every token
    ("GET", "/v1/internal/ui/exported-services"): Route(
        "/v1/internal/ui/exported-services?peer=acl-rt-peer"),
    # the walk's agent proxies metrics to a closed port: allowed is a 502, not a 403
    ("GET", "/v1/internal/ui/metrics-proxy/{path}"): Route(
        "/v1/internal/ui/metrics-proxy/api/v1/query", _r("node", "", "read", prefix=True) +
        _r("service", "", "read", prefix=True), SVC_NODE_R),
    ("GET", "/v1/internal/federation-states"): Route(
        "/v1/internal/federation-states", OP_R, SVC_NODE_R, marker='"Datacenter":"dc1"'),
    ("GET", "/v1/internal/federation-state/{dc}"): Route(
        "/v1/internal/federation-state/dc1", OP_R, SVC_NODE_R, marker='"Datacenter":"dc1"'),
    # the primary's anti-entropy puts the seeded gateway into dc1's state
    ("GET", "/v1/internal/federation-states/mesh-gateways"): Route(
        "/v1/internal/federation-states/mesh-gateways?index=1",
        _r("service", MESH_GW, "read") + MESH_NODE_R, _r("service", "acl-rt-mg", "read")
        + MESH_NODE_R, "filtered", f'"Service":"{MESH_GW}"',
        seeds=(("PUT", "/v1/catalog/register",
                {"Node": MESH_NODE, "Address": "10.1.2.9",
                 "Service": {"Kind": "mesh-gateway", "Service": MESH_GW, "Port": 8444}}, ""),)),
    # the proxy seeded above gave SERVICE a virtual IP: Found
    ("PUT", "/v1/internal/service-virtual-ip"): Route(
        "/v1/internal/service-virtual-ip", OP_W, OP_R, marker='"Found":true',
        body={"Service": SERVICE, "ManualVIPs": ["10.1.2.3"]}),
    # peering falls back to operator: the near misses are other resources
    ("POST", "/v1/peering/token"): Route("/v1/peering/token", PEER_W, PEER_R,
                                         body={"PeerName": "acl-rt-peer"}),
    ("POST", "/v1/peering/establish"): Route(
        "/v1/peering/establish", PEER_W, PEER_R,
        body={"PeerName": "acl-rt-dialer", "PeeringToken": PEERING_TOKEN}),
    ("GET", "/v1/peering/{name}"): Route("/v1/peering/acl-rt-peer", PEER_R, KR_W),
    ("DELETE", "/v1/peering/{name}"): Route("/v1/peering/acl-rt-peer", PEER_W, PEER_R),
    ("GET", "/v1/peerings"): Route("/v1/peerings", PEER_R, KR_W),
    # any token may ask what it may do
    ("POST", "/v1/internal/acl/authorize"): Route(
        "/v1/internal/acl/authorize", body=[{"Resource": "key", "Segment": "x", "Access": "read"}]),
    # no permission decides these: login needs an auth method (none here), logout a token
    # that login made (none here), so every token gets the same refusal
    ("POST", "/v1/acl/login"): Route("/v1/acl/login", denied="refused",
                                     body={"AuthMethod": "rt-none", "BearerToken": "x"}),
    ("POST", "/v1/acl/logout"): Route("/v1/acl/logout", denied="refused"),
}
