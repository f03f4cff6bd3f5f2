"""Edge fuzzing: random requests to every HTTP route and random bytes to every port.

The routes come from the API's own route table, so a route added later is fuzzed
without touching this file. The only acceptable answers are a reply under 500 with a
one-line message, or (binary ports) a closed connection; never a traceback in the
agent's log, and at the end the agent still serves and its catalog sync still works.

``PROCONSUL_FUZZ_EXAMPLES`` sets the examples per route and per port (default 12,
a few seconds in all); see bench/README.md for a long run by hand.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from urllib.parse import quote, quote_from_bytes, unquote, urlencode

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from msgspec import inspect

from proconsul.agent.http.server import api_router
from proconsul.structs.base import Record
from tests.support.agent_process import start_agent, wait_until

EXAMPLES = int(os.environ.get("PROCONSUL_FUZZ_EXAMPLES", "12"))
# No shrinking: a request can take a while, and the failing example is printed as found.
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 12,
                suppress_health_check=list(HealthCheck), database=None,
                phases=[Phase.explicit, Phase.generate])

# Routes whose right answer ends the agent (leave), never ends (the monitor and metrics
# streams), or dials and resolves whatever address it is given (join: a failed join is
# Consul's 500).
SKIP = {("PUT", "/v1/agent/leave"), ("GET", "/v1/agent/monitor"),
        ("GET", "/v1/agent/metrics/stream"), ("PUT", "/v1/agent/join/{address}")}
ROUTES = [(m, p) for m, p in api_router().routes() if m != "HEAD" and (m, p) not in SKIP]
# Failures Consul itself answers with a 500: ?dc naming an unknown datacenter, and a
# leadership transfer in a one-server cluster.
CONSUL_500 = ("No path to datacenter", "cannot transfer leadership")
QUERY_NAMES = ["dc", "stale", "consistent", "cached", "recurse", "keys", "raw", "separator",
               "cas", "flags", "acquire", "release", "filter", "near", "node-meta", "tag",
               "passing", "wait", "max_stale", "token", "note", "enable", "reason", "format",
               "wan", "segment", "replace-existing-checks", "pretty", "prune", "address", "id"]


def _field_names() -> list[str]:
    names, todo = set(), list(Record.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        names.update(f.encode_name for f in inspect.type_info(cls).fields)
    return sorted(names)


odd_text = st.text(st.characters(exclude_categories=()), max_size=12)  # surrogates too
numbers = st.one_of(st.integers(), st.integers(min_value=2**63 - 2, max_value=2**80),
                    st.integers(min_value=-(2**80), max_value=-(2**63) + 2),
                    st.floats(allow_nan=False, allow_infinity=False))
scalars = st.one_of(st.none(), st.booleans(), numbers, odd_text, st.just("10s"))
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(_field_names()) | odd_text, inner, max_size=6),
    max_leaves=24)
deep = st.integers(min_value=100, max_value=20_000).flatmap(
    lambda n: st.sampled_from([b"[" * n + b"]" * n, b'{"a":' * n + b"1" + b"}" * n]))
bodies = st.one_of(json_values.map(lambda v: json.dumps(v).encode()),
                   st.lists(json_values, max_size=3).map(lambda v: json.dumps(v).encode()),
                   st.binary(max_size=64), deep, st.just(b""))
path_parts = st.one_of(odd_text.filter(bool).map(lambda t: quote(t, safe="", errors="surrogatepass")),
                       st.binary(min_size=1, max_size=8).map(lambda b: quote_from_bytes(b, safe="")),
                       st.sampled_from(["serfHealth", "web", "dc1", "x/y", "%ff", "..", "-1"]))
query_values = st.one_of(odd_text, numbers.map(str), st.binary(max_size=6).map(
    lambda b: b.decode("latin-1")), st.sampled_from(["", "1s", "-1", "true", "99999999999h"]))
queries = st.dictionaries(st.sampled_from(QUERY_NAMES), query_values, max_size=3)


@pytest.fixture(scope="module")
def target():
    agent = start_agent()
    yield agent
    agent.stop()


def fill(pattern: str, parts: list[str]) -> str:
    out, rest = [], pattern
    while "{" in rest:
        head, _, tail = rest.partition("{")
        out.append(head)
        rest = tail.partition("}")[2]
        out.append(parts.pop() if parts else "x")
    return "".join(out) + rest


def _line_breaks(path: str, query: dict[str, str], body: bytes) -> int:
    """Line breaks a reply may echo from the request (raw, or escaped in JSON)."""
    sent = (unquote(path) + "".join(query.values())).count("\n")
    lowered = body.lower()
    return sent + body.count(b"\n") + body.count(b"\\n") + lowered.count(b"\\u000a")


def assert_clean(agent, since: int = 0) -> None:
    text = "".join(agent.log[since:])
    for bad in ("Traceback", "[ERROR]", "unhandled error"):
        assert bad not in text, text[text.index(bad) - 300:][:3000]


@pytest.mark.parametrize(("method", "pattern"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_random_requests_get_a_one_line_answer_under_500(target, method, pattern):
    before = len(target.log)

    @FUZZ
    @given(parts=st.lists(path_parts, min_size=2, max_size=2), query=queries, body=bodies)
    def fuzz(parts, query, body):
        path = fill(pattern, list(parts))
        qs = urlencode(query, quote_via=quote, encoding="utf-8", errors="surrogatepass")
        reply = target.call(method, f"{path}?{qs}" if qs else path, body, timeout=20)
        if not (reply.status == 500 and reply.text.startswith(CONSUL_500)):
            assert reply.status < 500, (path, qs, body[:200], reply.text)
        if reply.status >= 400:  # one line: no line breaks but those of an input it echoes
            text = reply.body.decode("utf-8", "replace").strip()
            assert text.count("\n") <= _line_breaks(path, query, body), reply.text

    fuzz()
    assert target.get("/v1/agent/self").status == 200
    assert_clean(target, before)


def _tcp(host: str, port: int, data: bytes, want_reply: bool) -> bytes:
    with socket.create_connection((host, port), timeout=5) as sock, \
            contextlib.suppress(OSError):
        sock.sendall(data)
        if not want_reply:
            return b""
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(2)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
        return reply
    return b""


def _udp(host: str, port: int, data: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(data, (host, port))


def _ports(agent) -> dict[str, tuple[str, int]]:
    config = agent.get("/v1/agent/self").json()["DebugConfig"]
    return {"http": ("tcp", agent.port), "dns-udp": ("udp", agent.dns_port),
            "dns-tcp": ("tcp", agent.dns_port), "server-rpc": ("tcp", config["ServerPort"]),
            "serf-lan-udp": ("udp", agent.lan_port), "serf-lan-tcp": ("tcp", agent.lan_port),
            "serf-wan-udp": ("udp", agent.wan_port), "serf-wan-tcp": ("tcp", agent.wan_port)}


PORTS = ["http", "dns-udp", "dns-tcp", "server-rpc", "serf-lan-udp", "serf-lan-tcp",
         "serf-wan-udp", "serf-wan-tcp"]
raw = st.one_of(st.binary(max_size=512),
                st.tuples(st.integers(0, 9), st.binary(max_size=256)).map(
                    lambda t: bytes([t[0]]) + t[1]),  # a server-port type byte first
                st.binary(max_size=64).map(lambda b: b"GET /v1/kv/" + b + b" HTTP/1.1\r\n\r\n"),
                st.binary(max_size=64).map(
                    lambda b: b"PUT /v1/txn HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(b) + b))


@pytest.mark.parametrize("name", PORTS)
def test_random_bytes_to_every_port(target, name):
    before = len(target.log)
    kind, port = _ports(target)[name]

    @FUZZ
    @given(data=raw)
    def fuzz(data):
        if kind == "udp":
            _udp(target.host, port, data)
            return
        reply = _tcp(target.host, port, data, want_reply=name == "http")
        if name == "http" and reply:
            status = int(reply.split(b" ", 2)[1])
            assert status < 500, reply[:300]

    fuzz()
    assert target.get("/v1/agent/self").status == 200
    assert_clean(target, before)


def test_agent_still_serves_and_syncs_after_the_fuzz(target):
    import dns.message
    import dns.query

    name = "after-fuzz"
    assert target.put("/v1/agent/service/register", {"Name": name, "Port": 80}).status == 200
    wait_until(lambda: target.get(f"/v1/catalog/service/{name}").json(), what="catalog sync")
    query = dns.message.make_query(f"{name}.service.consul.", "SRV")
    answer = dns.query.udp(query, target.host, port=target.dns_port, timeout=5)
    assert [rr.port for rr in answer.answer[0]] == [80]
    assert_clean(target)
