"""The register workload and checker: a real agent passes, a stale fake fails."""

from __future__ import annotations

import base64
import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support.linearizability import check
from tests.support.register_workload import RegisterWorkload


def summary(history):
    return Counter((op.kind, op.status) for op in history)


def test_dev_agent_kv_is_linearizable(agent, unique):
    keys = [f"{unique}/a", f"{unique}/b"]
    history = RegisterWorkload([(agent.host, agent.port)], keys, workers=4, ops=60,
                               seed=1).run()
    counts = summary(history)
    assert counts["read", "ok"] and counts["write", "ok"] and counts["cas", "ok"], counts
    result = check(history)
    assert result.ok, result.explanation


class FakeKVServer(ThreadingHTTPServer):
    """A tiny Consul KV: every ``stale_every``-th read forgets the key, and
    every ``error_every``-th write is applied but answered with a 500."""

    daemon_threads = True

    def __init__(self, stale_every: int = 0, error_every: int = 0):
        super().__init__(("127.0.0.1", 0), FakeKV)
        self.stale_every, self.error_every = stale_every, error_every
        self.store: dict[str, tuple[bytes, int]] = {}
        self.index = self.reads = self.writes = 0
        self.lock = threading.Lock()


class FakeKV(BaseHTTPRequestHandler):
    server: FakeKVServer

    def log_message(self, *args):
        pass

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        key = urlsplit(self.path).path.removeprefix("/v1/kv/")
        kv = self.server
        with kv.lock:
            kv.reads += 1
            entry = None if kv.stale_every and kv.reads % kv.stale_every == 0 \
                else kv.store.get(key)
        if entry is None:
            return self._reply(404, b"")
        value, index = entry
        self._reply(200, json.dumps([{"Key": key, "Value": base64.b64encode(value).decode(),
                                      "ModifyIndex": index}]).encode())

    def do_PUT(self):
        url = urlsplit(self.path)
        key = url.path.removeprefix("/v1/kv/")
        value = self.rfile.read(int(self.headers["Content-Length"]))
        cas = parse_qs(url.query).get("cas")
        kv = self.server
        with kv.lock:
            ok = cas is None or int(cas[0]) == kv.store.get(key, (b"", 0))[1]
            if ok:
                kv.index += 1
                kv.store[key] = (value, kv.index)
            kv.writes += 1
            error = kv.error_every and kv.writes % kv.error_every == 0
        if error:
            return self._reply(500, b"rpc error: timed out")
        self._reply(200, b"true" if ok else b"false")


@pytest.fixture
def fake_kv():
    servers = []

    def start(**modes) -> tuple[str, int]:
        servers.append(FakeKVServer(**modes))
        threading.Thread(target=servers[-1].serve_forever, daemon=True).start()
        return servers[-1].server_address

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_stale_reads_are_caught(fake_kv):
    history = RegisterWorkload([fake_kv(stale_every=3)], ["k"], workers=3, ops=40,
                               seed=2).run()
    result = check(history)
    assert not result.ok
    assert "read None" in result.explanation


def test_applied_writes_answered_500_are_indeterminate(fake_kv):
    history = RegisterWorkload([fake_kv(error_every=4)], ["k"], workers=3, ops=40,
                               seed=3).run()
    counts = summary(history)
    assert counts["write", "info"] and counts["cas", "info"], counts
    assert all(op.complete is None for op in history if op.status == "info")
    result = check(history)
    assert result.ok, result.explanation


def test_unreachable_agents_record_failures_not_effects():
    history = RegisterWorkload([("127.0.0.1", 9)], ["k"], workers=2, ops=10).run()
    assert {op.status for op in history} <= {"fail", "info"}
    assert all(op.status == "fail" for op in history if op.kind != "read")
    assert check(history).ok
