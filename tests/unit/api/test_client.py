"""The client against a fake agent: parameters, headers, meta, errors, the index rule."""

import base64
import json
import socket

import pytest

from proconsul.api import (
    APIError,
    Client,
    Config,
    KVPair,
    QueryOptions,
    TransportError,
    next_wait_index,
)
from tests.support.fake_http import FakeHTTP, Reply


@pytest.fixture
def fake():
    with FakeHTTP() as server:
        yield server


def client(fake, **kw) -> Client:
    return Client(Config(address=fake.address, **kw))


@pytest.mark.parametrize("sent,returned,expected", [
    (0, 5, 5), (5, 9, 9), (9, 5, 0), (7, 7, 7), (0, 0, 1), (3, 0, 0),
])
def test_next_wait_index(sent, returned, expected):
    assert next_wait_index(sent, returned) == expected


def test_query_options_and_meta(fake):
    fake.routes["GET", "/v1/kv/a/b"] = lambda r: Reply(200, json.dumps([{
        "Key": "a/b", "Value": base64.b64encode(b"v").decode(), "Flags": 3, "CreateIndex": 1,
        "ModifyIndex": 2, "LockIndex": 0}]).encode(), {
        "X-Consul-Index": "12", "X-Consul-KnownLeader": "true", "X-Consul-LastContact": "250"})
    q = QueryOptions(datacenter="dc2", allow_stale=True, wait_index=11, wait_time=1.5,
                     token="secret", filter="Key == x", node_meta={"env": "prod"})
    pair, meta = client(fake).kv().get("a/b", q)
    assert pair == KVPair("a/b", b"v", 3, create_index=1, modify_index=2)
    assert (meta.last_index, meta.known_leader, meta.last_contact) == (12, True, 0.25)
    assert meta.next_index(20) == 0
    request = fake.requests[-1]
    assert request.query == {"dc": "dc2", "stale": "", "index": "11", "wait": "1500ms",
                             "filter": "Key == x", "node-meta": "env:prod"}
    assert request.headers["X-Consul-Token"] == "secret"


def test_config_token_and_datacenter_are_defaults(fake):
    fake.routes["GET", "/v1/status/leader"] = lambda r: Reply(200, b'"10.0.0.1:8300"')
    assert client(fake, token="t0", datacenter="east").status().leader() == "10.0.0.1:8300"
    assert fake.requests[-1].headers["X-Consul-Token"] == "t0"
    assert fake.requests[-1].query == {"dc": "east"}


def test_kv_miss_is_none_and_put_sends_raw_body(fake):
    fake.routes["GET", "/v1/kv/missing"] = lambda r: Reply(404, b"", {"X-Consul-Index": "4"})
    fake.routes["PUT", "/v1/kv/k"] = lambda r: Reply(200, b"false")
    kv = client(fake).kv()
    pair, meta = kv.get("missing")
    assert pair is None and meta.last_index == 4
    ok, _ = kv.cas(KVPair("k", b"\x00raw", flags=9, modify_index=7))
    assert ok is False
    assert fake.requests[-1].body == b"\x00raw"
    assert fake.requests[-1].query == {"flags": "9", "cas": "7"}


def test_error_carries_status_and_message(fake):
    fake.routes["GET", "/v1/catalog/nodes"] = lambda r: Reply(500, b"No cluster leader\n")
    with pytest.raises(APIError) as caught:
        client(fake).catalog().nodes()
    assert caught.value.status == 500 and caught.value.message == "No cluster leader"
    assert str(caught.value) == "Unexpected response code: 500 (No cluster leader)"


def test_connection_refused_is_a_transport_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TransportError, match="connection refused"):
        Client(Config(address=f"127.0.0.1:{port}")).agent().self()


def test_txn_conflict_is_not_an_error(fake):
    fake.routes["PUT", "/v1/txn"] = lambda r: Reply(409, json.dumps(
        {"Results": None, "Errors": [{"OpIndex": 0, "What": "failed"}]}).encode())
    ok, reply, _ = client(fake).txn().txn([{"KV": {"Verb": "get", "Key": "x"}}])
    assert ok is False and reply["Errors"][0]["What"] == "failed"
    assert json.loads(fake.requests[-1].body) == [{"KV": {"Verb": "get", "Key": "x"}}]


def test_keep_alive_reuses_one_connection(fake):
    fake.routes["GET", "/v1/status/peers"] = lambda r: Reply(200, b"[]")
    c = client(fake)
    c.status().peers()
    first = c.transport._local.conn.sock
    c.status().peers()
    assert c.transport._local.conn.sock is first
