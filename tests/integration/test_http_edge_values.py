"""What comes in at the edge of a real agent: numbers past Go's types, ``null`` wherever Go
takes it, keys that are not UTF-8, msgpack nested without end on the server port."""

from __future__ import annotations

import contextlib
import copy
import json
import socket
from urllib.parse import quote_from_bytes

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.agent_process import wait_until

HUGE = "99999999999999999999999"


def catalog_ids(agent, service):
    return [s["ServiceID"] for s in agent.get(f"/v1/catalog/service/{service}").json()]


def no_traceback(agent):
    text = "".join(agent.log)
    assert "Traceback" not in text and "RecursionError" not in text and "[ERROR]" not in text


# ---- integers past the Go type -----------------------------------------------------------


def test_huge_service_port_is_400_and_anti_entropy_keeps_syncing(agent, unique):
    body = f'{{"Name": "{unique}", "Port": {HUGE}}}'
    reply = agent.put("/v1/agent/service/register", body)
    assert reply.status == 400
    assert reply.text.startswith("Request decode failed: Expected `int`")
    assert "`$.Port`" in reply.text
    assert unique not in agent.get("/v1/agent/services").json()
    # The agent's sync still runs: a good registration reaches the catalog.
    assert agent.put("/v1/agent/service/register", {"Name": unique, "Port": 80}).status == 200
    wait_until(lambda: catalog_ids(agent, unique) == [unique], what="anti-entropy")
    no_traceback(agent)


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/v1/catalog/register", '{"Node": "NODE", "Service": {"Service": "s", "Port": %s}}',
     "`$.Service.Port`"),
    ("/v1/catalog/register", '{"Node": "NODE", "Service": {"Service": "s", "Port": 18446744073709551615}}',
     "`$.Service.Port`"),
    ("/v1/txn", '[{"KV": {"Verb": "set", "Key": "NODE", "Flags": %s}}]', "`$[0].KV.Flags`"),
    ("/v1/txn", '[{"KV": {"Verb": "cas", "Key": "NODE", "Index": -1}}]', "`$[0].KV.Index`"),
    ("/v1/session/create", '{"LockDelay": %s}', "LockDelay"),
    ("/v1/session/create", '{"LockDelay": "99999999999999h"}', "invalid duration"),
    ("/v1/agent/service/register",
     '{"Name": "NODE", "Weights": {"Passing": %s, "Warning": 1}}', "`$.Weights.Passing`"),
    ("/v1/coordinate/update", '{"Node": "NODE", "Coord": {"Vec": [1e999]}}', "out of range"),
])
def test_number_past_go_type_is_400_naming_it(agent, unique, path, body, field):
    reply = agent.put(path, body.replace("%s", HUGE).replace("NODE", unique))
    assert reply.status == 400, reply.text
    assert reply.text.startswith(("Request decode failed", "Failed to parse body"))
    assert field in reply.text and "\n" not in reply.text.strip()
    assert agent.get(f"/v1/catalog/node/{unique}").json() is None
    assert agent.get(f"/v1/kv/{unique}").status == 404


@pytest.mark.parametrize(("query", "message"), [
    (f"/v1/kv/k?index={HUGE}", "Invalid index"),
    ("/v1/kv/k?index=18446744073709551616", "Invalid index"),
    ("/v1/kv/k?wait=99999999999999h", "Invalid wait time"),
    ("/v1/kv/k?max_stale=99999999999999h", "Invalid max_stale value"),
])
def test_query_number_past_go_type_is_400(agent, query, message):
    reply = agent.get(query)
    assert reply.status == 400 and reply.text.startswith(message)


def test_flags_at_uint64_max_are_kept(agent, unique):
    assert agent.put(f"/v1/kv/{unique}?flags=18446744073709551615", b"v").json() is True
    assert agent.get(f"/v1/kv/{unique}").json()[0]["Flags"] == 2**64 - 1
    ops = [{"KV": {"Verb": "set", "Key": unique, "Flags": 2**64 - 1}}]
    assert agent.put("/v1/txn", ops).status == 200


def rpc_call(host, port, method, args: bytes) -> dict:
    """One msgpack-RPC call on the server port (type byte 0); the response header."""
    header = msgspec.msgpack.encode({"Seq": 1, "ServiceMethod": method})
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(b"\x00" + header + args)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
            for end in range(1, len(data) + 1):  # the header is the first value
                with contextlib.suppress(msgspec.DecodeError):
                    return msgspec.msgpack.decode(data[:end])
    raise AssertionError("connection closed before a reply")


def server_port(agent) -> int:
    return agent.get("/v1/agent/self").json()["DebugConfig"]["ServerPort"]


def test_rpc_register_with_port_2_64_is_refused_not_wrapped(agent, unique):
    args = msgspec.msgpack.encode({"Datacenter": "dc1", "Node": unique, "Address": "10.0.0.9",
                                   "Service": {"Service": unique, "Port": 2**64 - 1}})
    header = rpc_call(agent.host, server_port(agent), "Catalog.Register", args)
    assert "can't decode args for Catalog.Register" in header["Error"]
    assert "`$.Service.Port`" in header["Error"]
    assert agent.get(f"/v1/catalog/node/{unique}").json() is None


def test_rpc_kv_apply_with_invalid_utf8_key_is_refused(agent, unique):
    key = unique.encode() + b"\xff"
    args = (b"\x83\xa2Op\xa3set\xaaDatacenter\xa3dc1\xa6DirEnt\x82\xa3Key"
            + bytes([0xA0 | len(key)]) + key + b"\xa5Value\xc4\x01v")
    header = rpc_call(agent.host, server_port(agent), "KVS.Apply", args)
    assert "can't decode args for KVS.Apply" in header["Error"]
    assert agent.get(f"/v1/kv/{unique}?recurse").status == 404


def test_deeply_nested_msgpack_on_server_port_logs_one_line(agent):
    nested = b"\x81\xa1a" * 100_000 + b"\xc0"  # 100,000 nested maps
    header = msgspec.msgpack.encode({"Seq": 1, "ServiceMethod": "Status.Ping"})
    payload = b"\x00" + header + nested
    before = len(agent.log)
    with (socket.create_connection((agent.host, server_port(agent)), timeout=10) as sock,
          contextlib.suppress(OSError)):  # the agent may close before reading it all
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(65536):
                pass
    assert agent.get("/v1/status/leader").status == 200
    wait_until(lambda: any("nested too deeply" in line for line in agent.log[before:]),
               what="the one-line warning")
    new = agent.log[before:]
    assert "Traceback" not in "".join(new) and "RecursionError" not in "".join(new)


# ---- null wherever Go takes it --------------------------------------------------------------

# A full body per write endpoint; the test sends each with one field at a time set to null,
# and with that field left out, and expects the same answer (Go reads null as "leave it").
FULL_BODIES = {
    "/v1/catalog/register": {
        "Node": "UNIQUE", "Address": "10.0.0.1", "ID": "", "Datacenter": "",
        "TaggedAddresses": {"lan": "10.0.0.1"}, "NodeMeta": {"k": "v"},
        "Locality": {"Region": "r"}, "SkipNodeUpdate": False,
        "Service": {"ID": "UNIQUE", "Service": "UNIQUE", "Tags": ["a"], "Address": "10.0.0.2",
                    "Meta": {"m": "1"}, "Port": 80, "Weights": {"Passing": 2, "Warning": 1},
                    "EnableTagOverride": False, "TaggedAddresses": {
                        "lan": {"Address": "10.0.0.2", "Port": 80}},
                    "Proxy": {"Mode": "", "Config": {"x": 1}, "MeshGateway": {}, "Expose": {}},
                    "Connect": {"Native": False}},
        "Check": {"CheckID": "c0", "Name": "c0", "Status": "passing", "ServiceID": "UNIQUE",
                  "ServiceTags": ["a"], "Definition": {"HTTP": "http://x", "Header": {
                      "h": ["v"]}, "Interval": "10s"}},
        "Checks": [{"CheckID": "c1", "Name": "c1", "Status": "passing",
                    "ServiceTags": ["a"], "Definition": {"ScriptArgs": ["x"]}}],
    },
    "/v1/agent/service/register": {
        "Name": "UNIQUE", "ID": "UNIQUE", "Tags": ["a"], "Port": 80, "Address": "10.0.0.3",
        "TaggedAddresses": {"wan": {"Address": "10.0.0.4", "Port": 81}},
        "Meta": {"m": "1"}, "Weights": {"Passing": 3, "Warning": 1},
        "EnableTagOverride": True, "Check": {"TTL": "30s", "Notes": "n"},
        "Checks": [{"TTL": "30s", "Name": "second"}], "Connect": {"Native": False},
        "Locality": {"Region": "r", "Zone": "z"},
    },
    "/v1/session/create": {
        "Name": "s", "LockDelay": "1s", "Behavior": "release", "TTL": "",
        "Checks": ["serfHealth"], "NodeChecks": ["serfHealth"], "ServiceChecks": [],
    },
    "/v1/txn": [
        {"KV": {"Verb": "set", "Key": "UNIQUE", "Value": "dg==", "Flags": 1, "Index": 0,
                "Session": ""}},
        {"Node": {"Verb": "set", "Node": {"Node": "UNIQUE", "Address": "10.0.0.5",
                                          "TaggedAddresses": {"lan": "10.0.0.5"},
                                          "Meta": {"k": "v"}}}},
        {"Service": {"Verb": "set", "Node": "UNIQUE", "Service": {
            "ID": "UNIQUE", "Service": "UNIQUE", "Tags": ["a"], "Meta": {"m": "1"},
            "Port": 1}}},
    ],
    "/v1/operator/autopilot/configuration": {
        "CleanupDeadServers": True, "LastContactThreshold": "200ms", "MaxTrailingLogs": 250,
        "MinQuorum": 0, "ServerStabilizationTime": "10s", "RedundancyZoneTag": "",
        "DisableUpgradeMigration": False, "UpgradeVersionTag": "",
    },
    "/v1/catalog/deregister": {"Node": "UNIQUE-gone", "ServiceID": "", "CheckID": ""},
    "/v1/agent/check/register": {"Name": "UNIQUE", "CheckID": "UNIQUE", "TTL": "10s",
                                 "Notes": "n", "Status": "passing", "ServiceID": ""},
    "/v1/coordinate/update": {"Node": "UNIQUE", "Segment": "",
                              "Coord": {"Vec": [0.0] * 8, "Error": 1.5, "Adjustment": 0.0,
                                        "Height": 1e-5}},
}


def _field_paths(value, path=()):
    """Every key path of every object inside ``value`` (lists walked by index)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*path, key)
            if key not in ("Config", "Meta", "NodeMeta", "Header", "TaggedAddresses",
                           "Locality") or isinstance(item, list):
                yield from _field_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _field_paths(item, (*path, index))


def _with(body, path, null: bool):
    body = copy.deepcopy(body)
    parent = body
    for part in path[:-1]:
        parent = parent[part]
    if null:
        parent[path[-1]] = None
    else:
        del parent[path[-1]]
    return body


NULL_CASES = [(route, path) for route, body in FULL_BODIES.items()
              for path in _field_paths(body)]


@pytest.mark.parametrize(("route", "path"), NULL_CASES,
                         ids=[f"{r.removeprefix('/v1/')}:{'.'.join(map(str, p))}"
                              for r, p in NULL_CASES])
def test_null_field_answers_as_the_absent_field(agent, unique, route, path):
    def send(body):
        return agent.put(route, json.dumps(body).replace("UNIQUE", unique))

    absent = send(_with(FULL_BODIES[route], path, null=False))
    null = send(_with(FULL_BODIES[route], path, null=True))
    assert null.status == absent.status < 500
    if null.status >= 400:
        assert null.text == absent.text


def test_null_fields_read_back_empty(agent, unique):
    body = {"Node": unique, "Address": "10.0.0.1", "NodeMeta": None, "TaggedAddresses": None,
            "Service": {"Service": unique, "Tags": None, "Meta": None,
                        "TaggedAddresses": None, "Weights": None},
            "Checks": [{"CheckID": "c", "Name": "c", "ServiceID": unique,
                        "ServiceTags": None, "Definition": {"Header": None}}]}
    assert agent.put("/v1/catalog/register", body).status == 200
    [row] = agent.get(f"/v1/catalog/service/{unique}").json()
    assert row["ServiceTags"] == [] and not row["NodeMeta"]
    [check] = agent.get(f"/v1/health/node/{unique}").json()
    assert check["ServiceTags"] == []
    assert agent.put("/v1/operator/autopilot/configuration",
                     {"LastContactThreshold": None, "CleanupDeadServers": True}).status == 200


# ---- keys that are not UTF-8 ----------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "GET", "DELETE"])
def test_kv_key_that_is_not_utf8_is_400(agent, unique, method):
    reply = agent.call(method, f"/v1/kv/{unique}%ff", b"v" if method == "PUT" else None)
    assert (reply.status, reply.text) == (400, "Invalid key: not valid UTF-8")
    assert agent.get(f"/v1/kv/{unique}?recurse").status == 404


def test_col_ff_and_col_fe_never_merge(agent, unique):
    for suffix in ("%ff", "%fe"):
        assert agent.put(f"/v1/kv/{unique}{suffix}", suffix.encode()).status == 400
    assert agent.get(f"/v1/kv/{unique}?recurse").status == 404
    assert agent.get(f"/v1/kv/{unique}%EF%BF%BD").status == 404  # U+FFFD itself: no such key


def test_txn_key_that_is_not_utf8_is_400(agent, unique):
    body = b'[{"KV": {"Verb": "set", "Key": "' + unique.encode() + b'\xff", "Value": "dg=="}}]'
    reply = agent.put("/v1/txn", body)
    assert reply.status == 400 and reply.text.startswith("Failed to parse body")
    body = b'[{"KV": {"Verb": "set", "Key": "' + unique.encode() + b'\\udcff", "Value": ""}}]'
    assert agent.put("/v1/txn", body).status == 400


def test_query_string_that_is_not_utf8_is_400(agent, unique):
    reply = agent.get(f"/v1/kv/{unique}?keys&separator=%ff")
    assert (reply.status, reply.text) == (400, "Invalid query string: not valid UTF-8")


keys = st.binary(min_size=1, max_size=12).filter(lambda b: b"/" not in b[:1])


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(a=keys, b=keys)
def test_distinct_byte_keys_stay_distinct_or_are_refused(agent, a, b):
    """Any two distinct byte keys through put, get, list and txn: distinct, or a 400."""
    prefix = b"prop/"
    stored = {}
    for key, value in ((a, b"A"), (b, b"B")):
        path = "/v1/kv/" + quote_from_bytes(prefix + key, safe="")
        reply = agent.put(path, value)
        if reply.status == 400:
            assert reply.text == "Invalid key: not valid UTF-8"
            with pytest.raises(UnicodeDecodeError):
                key.decode("utf-8")
            continue
        assert reply.status == 200, reply.text
        stored[key] = value
    try:
        for key, value in stored.items():  # b overwrote a only if a == b
            path = "/v1/kv/" + quote_from_bytes(prefix + key, safe="")
            [entry] = agent.get(path).json()
            assert entry["Key"].encode() == prefix + key
            assert agent.get(path + "?raw").body == value
            txn = agent.put("/v1/txn", [{"KV": {"Verb": "get", "Key": entry["Key"]}}]).json()
            assert txn["Results"][0]["KV"]["Key"] == entry["Key"]
        if stored:
            listed = {k.encode() for k in agent.get("/v1/kv/prop/?keys").json()}
            assert listed == {prefix + k for k in stored}
    finally:
        agent.delete("/v1/kv/prop?recurse")
