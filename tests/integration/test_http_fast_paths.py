"""The short ways for the hottest requests answer byte for byte as the general path.

``GET /v1/kv/<key>`` (plain or ``?stale``) and ``PUT /v1/kv/<key>`` with no query are
served by ``agent/http/kv_fast``, ``PUT /v1/catalog/register`` by ``catalog_fast``,
``GET /v1/health/service/<name>`` (plain or ``?stale``) by ``health_fast``; the
same requests with an argument that changes nothing (``?stale=``, ``?dc=<own>``,
``?flags=0``) take the general handlers. Their replies must be the same bytes (the Date
line aside), and the writes the same entries.
"""

from __future__ import annotations

import json
import re
import socket

import pytest

from tests.support.agent_process import AgentProcess, ServerSpec, start_agent, start_server
from tests.support.server_rpc import make_token


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = start_server(ServerSpec(str(tmp_path_factory.mktemp("kv-fast"))),
                           "-bootstrap-expect", "1")
    yield process
    process.stop()


def raw(agent: AgentProcess, method: str, path: str, body: bytes = b"",
        headers: str = "") -> bytes:
    """One request on a fresh connection; the whole reply with its Date line blanked."""
    request = (f"{method} {path} HTTP/1.1\r\nHost: x\r\n{headers}"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    with socket.create_connection((agent.host, agent.port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head, _, rest = data.partition(b"\r\n\r\n")
        length = int(re.search(rb"Content-Length: (\d+)", head)[1])
        while len(rest) < length:
            rest += sock.recv(65536)
    return re.sub(rb"Date: [^\r]*", b"Date: -", head) + b"\r\n\r\n" + rest


def wait_leader(agent: AgentProcess) -> None:
    for _ in range(200):
        if agent.put("/v1/kv/fast-path-ready", b"").status == 200:
            return
    raise AssertionError("no leader")


@pytest.mark.parametrize("fast, general", [("", "?dc=dc1"), ("?stale", "?stale=")])
def test_reads_match_the_general_path(server, unique, fast, general):
    wait_leader(server)
    assert server.put(f"/v1/kv/{unique}/k?flags=7", b"v\x00\xff").status == 200
    for key in (f"{unique}/k", f"{unique}/absent"):
        a = raw(server, "GET", f"/v1/kv/{key}{fast}")
        b = raw(server, "GET", f"/v1/kv/{key}{general}")
        assert a == b
        assert a.startswith(b"HTTP/1.1 404 " if key.endswith("absent") else b"HTTP/1.1 200 ")


def test_writes_match_the_general_path(server, unique):
    wait_leader(server)
    for value in (b"", b"x" * 1000, b"\x00\xff"):
        a = raw(server, "PUT", f"/v1/kv/{unique}/fast", value)
        b = raw(server, "PUT", f"/v1/kv/{unique}/general?flags=0", value)
        assert a == b and a.endswith(b"\r\n\r\ntrue")
        fast = server.get(f"/v1/kv/{unique}/fast").json()[0]
        general = server.get(f"/v1/kv/{unique}/general").json()[0]
        assert fast["Value"] == general["Value"] and fast["Flags"] == general["Flags"] == 0
        assert fast["ModifyIndex"] > 0 and general["ModifyIndex"] > fast["ModifyIndex"]


def test_connection_close_and_errors_match(server, unique):
    wait_leader(server)
    close = "Connection: close\r\n"
    assert raw(server, "PUT", f"/v1/kv/{unique}", b"1", close) == \
        raw(server, "PUT", f"/v1/kv/{unique}?flags=0", b"1", close)
    assert raw(server, "GET", f"/v1/kv/{unique}", headers=close).count(b"Connection: close") == 1
    too_big = b"x" * (512 * 1024 + 1)
    assert raw(server, "PUT", f"/v1/kv/{unique}", too_big) == \
        raw(server, "PUT", f"/v1/kv/{unique}?flags=0", too_big)
    assert raw(server, "PUT", "/v1/kv/", b"1").startswith(b"HTTP/1.1 400 ")


def _counts(server: AgentProcess, *patterns: str) -> tuple[int, ...]:
    """The running counts of these Prometheus samples (0 for one not recorded yet)."""
    text = server.get("/v1/agent/metrics?format=prometheus").text
    return tuple(int(m[1]) if (m := re.search(pattern + r" (\d+)", text)) else 0
                 for pattern in patterns)


def test_fast_requests_are_timed_like_the_general_ones(server, unique):
    wait_leader(server)
    timers = (r"consul_kvs_apply_count", r"consul_http_GET_v1_kv___count",
              r"consul_catalog_register_count", r"consul_http_PUT_v1_catalog_register_count")
    before = _counts(server, *timers)
    for i in range(3):
        server.put(f"/v1/kv/{unique}", b"v")
        server.get(f"/v1/kv/{unique}?stale")
        body = {"Node": f"{unique}-timed-{i}", "Address": "10.0.0.1"}
        assert server.put("/v1/catalog/register", body).status == 200
    assert _counts(server, *timers) == tuple(count + 3 for count in before)


def test_registrations_match_the_general_path(server, unique):
    wait_leader(server)
    node_name = server.get("/v1/agent/self").json()["Config"]["NodeName"]

    def body(node: str, port: int) -> bytes:
        return json.dumps({"Node": node, "Address": "10.0.0.1", "NodeMeta": {"k": "v"},
                           "Service": {"Service": f"{unique}-svc", "Port": port,
                                       "Tags": ["a"]},
                           "Check": {"Name": "alive", "Status": "passing",
                                     "ServiceID": f"{unique}-svc"}}).encode()

    for node in (f"{unique}-fast", f"{unique}-general"):
        path = "/v1/catalog/register" + ("?dc=dc1" if node.endswith("general") else "")
        assert raw(server, "PUT", path, body(node, 80)).endswith(b"\r\n\r\ntrue")
    fast, general = (server.get(f"/v1/health/node/{unique}-{kind}").json()
                     for kind in ("fast", "general"))
    for check in (*fast, *general):
        check.pop("Node"), check.pop("CreateIndex"), check.pop("ModifyIndex")
    assert fast == general and fast[0]["CheckID"] == "alive"
    # refusals, and a write to the agent's own node (a Warning header), answer alike
    for payload in (b'{"Node": ""}', b'{"Node": "n"}', b"{", body(node_name, 81),
                    b'{"node": "x", "address": "10.0.0.2"}'):
        assert raw(server, "PUT", "/v1/catalog/register", payload) == \
            raw(server, "PUT", "/v1/catalog/register?dc=dc1", payload)
    assert b"Warning: 299" in raw(server, "PUT", "/v1/catalog/register", body(node_name, 82))


def test_health_queries_match_the_general_path(server, unique):
    wait_leader(server)
    for i, tags in enumerate((None, ["a", "b"], None)):
        body = {"Node": f"{unique}-n{i}", "Address": f"10.0.0.{i}",
                "Service": {"ID": f"{unique}-{i}", "Service": f"{unique}-svc", "Port": 80,
                            "Tags": tags},
                "Check": {"CheckID": f"c{i}", "Name": "alive", "ServiceID": f"{unique}-{i}",
                          "Status": "critical" if i == 2 else "passing"}}
        assert server.put("/v1/catalog/register", body).status == 200
    text = server.get("/v1/agent/metrics?format=prometheus").text
    pattern = rf'consul_health_service_query{{service="{unique}-svc"}} (\d+)'
    before = int(m[1]) if (m := re.search(pattern, text)) else 0
    for fast, general in (("", "?dc=dc1"), ("?stale", "?stale=")):
        for name in (f"{unique}-svc", f"{unique}-absent"):
            a = raw(server, "GET", f"/v1/health/service/{name}{fast}")
            assert a == raw(server, "GET", f"/v1/health/service/{name}{general}")
            assert a.startswith(b"HTTP/1.1 200 ")
            listed = json.loads(a.partition(b"\r\n\r\n")[2])
            assert len(listed) == (3 if name.endswith("svc") else 0)
        close = "Connection: close\r\n"
        a = raw(server, "GET", f"/v1/health/service/{unique}-svc{fast}", headers=close)
        assert a == raw(server, "GET", f"/v1/health/service/{unique}-svc{general}",
                        headers=close)
        assert a.count(b"Connection: close") == 1
    # the tags Consul shows for an instance without any, and the index of the service
    listed = server.get(f"/v1/health/service/{unique}-svc")
    assert [n["Service"]["Tags"] for n in listed.json()] == [[], ["a", "b"], []]
    assert int(listed.headers["X-Consul-Index"]) > 1
    text = server.get("/v1/agent/metrics?format=prometheus").text
    assert int(re.search(pattern, text)[1]) == before + 9  # each read of the service


def test_a_token_in_the_header_takes_the_short_way_with_the_same_answers(tmp_path):
    """With ACLs on, a request's X-Consul-Token is checked on the short way as on the
    general one: allowed reads and writes answer the same bytes, and a refused one is
    left to the general path, which words the 403 (the same text either way)."""
    root = "fast-path-root-secret"
    config = tmp_path / "acl.json"
    config.write_text(json.dumps({"acl": {"enabled": True, "default_policy": "deny",
                                          "tokens": {"initial_management": root,
                                                     "agent": root}}}))
    agent = start_agent("-config-file", str(config))
    try:
        port = agent.get("/v1/agent/self", headers={"X-Consul-Token": root}
                         ).json()["DebugConfig"]["ServerPort"]
        secret = make_token(agent.host, port, root, "app-writer",
                            'key_prefix "app/" { policy = "write" }')
        token = f"X-Consul-Token: {secret}\r\n"
        for value in (b"", b"v\x00\xff"):
            assert raw(agent, "PUT", "/v1/kv/app/k", value, token) == \
                raw(agent, "PUT", "/v1/kv/app/k?flags=0", value, token)
        for fast, general in (("", "?dc=dc1"), ("?stale", "?stale=")):
            for key in ("app/k", "app/absent", "other/k"):
                a = raw(agent, "GET", f"/v1/kv/{key}{fast}", headers=token)
                assert a == raw(agent, "GET", f"/v1/kv/{key}{general}", headers=token)
                status = b"403" if key.startswith("other/") else (
                    b"404" if key.endswith("absent") else b"200")
                assert a.startswith(b"HTTP/1.1 " + status + b" "), a
        denied = raw(agent, "PUT", "/v1/kv/other/k", b"1", token)
        assert denied == raw(agent, "PUT", "/v1/kv/other/k?flags=0", b"1", token)
        assert denied.startswith(b"HTTP/1.1 403 ") and b"key:write" in denied
        anonymous = raw(agent, "GET", "/v1/kv/app/k")
        assert anonymous == raw(agent, "GET", "/v1/kv/app/k?dc=dc1")
        assert anonymous.startswith(b"HTTP/1.1 403 ")
    finally:
        agent.stop()


def test_a_revoked_permission_holds_from_the_very_next_short_way_request(tmp_path):
    """The short way remembers each key's answer for a token; any change to the ACL
    state (its policy narrowed, denied, taken off the token, the token deleted) holds
    from the very next request, reads and writes alike."""
    root = {"X-Consul-Token": "fast-path-root-secret"}
    config = tmp_path / "acl.json"
    config.write_text(json.dumps({"acl": {"enabled": True, "default_policy": "deny",
                                          "tokens": {"initial_management": root["X-Consul-Token"],
                                                     "agent": root["X-Consul-Token"]}}}))
    agent = start_agent("-config-file", str(config))
    try:
        def status(method: str, key: str = "app/k") -> bytes:
            reply = raw(agent, method, f"/v1/kv/{key}", b"v" if method == "PUT" else b"",
                        f"X-Consul-Token: {token['SecretID']}\r\n")
            return reply[9:12]

        def rules(level: str) -> dict:
            return {"Name": "app", "Rules": f'key_prefix "app/" {{ policy = "{level}" }}'}

        def set_policy(level: str) -> None:
            reply = agent.put(f"/v1/acl/policy/{policy['ID']}", rules(level), headers=root)
            assert reply.status == 200, reply.text

        policy = agent.put("/v1/acl/policy", rules("write"), headers=root).json()
        token = agent.put("/v1/acl/token", {"Policies": [{"ID": policy["ID"]}]},
                          headers=root).json()
        for _ in range(3):
            assert (status("PUT"), status("GET")) == (b"200", b"200")
        set_policy("read")
        assert (status("PUT"), status("GET")) == (b"403", b"200")
        set_policy("deny")
        assert (status("GET"), status("GET", "app/other")) == (b"403", b"403")
        set_policy("list")
        assert status("GET") == b"200"
        reply = agent.put(f"/v1/acl/token/{token['AccessorID']}", {"Policies": []}, headers=root)
        assert reply.status == 200, reply.text
        assert status("GET") == b"403"
        reply = agent.put(f"/v1/acl/token/{token['AccessorID']}",
                          {"Policies": [{"ID": policy["ID"]}]}, headers=root)
        assert reply.status == 200, reply.text
        assert status("GET") == b"200"
        assert agent.delete(f"/v1/acl/token/{token['AccessorID']}", headers=root).status == 200
        denied = raw(agent, "GET", "/v1/kv/app/k", headers=f"X-Consul-Token: {token['SecretID']}\r\n")
        assert denied.startswith(b"HTTP/1.1 403 ") and denied.endswith(b"ACL not found"), denied
    finally:
        agent.stop()
