"""``watches`` in agent config: script and HTTP handlers, once per change, through reloads."""

from __future__ import annotations

import json
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support.agent_process import start_agent, wait_until

# Appends "<CONSUL_INDEX> <payload>" as one line, in one write, per run.
APPEND = 'line="$CONSUL_INDEX $(cat)"; echo "$line" >> "$0"'


def script_watch(out, **params) -> dict:
    return {**params, "args": ["/bin/sh", "-c", APPEND, str(out)]}


def lines(path) -> list[tuple[int, object]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines(keepends=True):
        if not line.endswith("\n"):
            break  # being written
        index, _, payload = line.partition(" ")
        out.append((int(index), json.loads(payload)))
    return out


def values(runs) -> list[list[str]]:
    """The keys' base64 values of each keyprefix payload."""
    return [[pair["Value"] for pair in payload] for _, payload in runs]


def write(conf, watches) -> None:
    conf.write_text(json.dumps({"watches": watches}))


def test_script_handler_runs_once_per_change_through_reloads(tmp_path):
    counted, other = tmp_path / "counted.log", tmp_path / "other.log"
    conf = tmp_path / "watches.json"
    counted_watch = script_watch(counted, type="keyprefix", prefix="w/")
    write(conf, [counted_watch])
    agent = start_agent("-config-file", str(conf))
    try:
        wait_until(lambda: len(lines(counted)) == 1, what="the initial run")
        assert lines(counted)[0][1] == []
        for n in range(1, 4):
            assert agent.put("/v1/kv/w/a", f"v{n}").status == 200
            wait_until(lambda n=n: len(lines(counted)) == 1 + n, what=f"change {n}")
        agent.put("/v1/kv/other", "o1")
        write(conf, [counted_watch, script_watch(other, type="key", key="other")])
        assert agent.put("/v1/agent/reload").status == 200
        wait_until(lambda: len(lines(other)) == 1, what="the added watch's first run")
        assert agent.put("/v1/kv/w/b", "x").status == 200
        wait_until(lambda: len(lines(counted)) >= 5, what="the change after the reload")
        write(conf, [counted_watch])
        reloads = sum("reloaded configuration" in line for line in agent.log)
        agent.process.send_signal(signal.SIGHUP)
        wait_until(lambda: sum("reloaded configuration" in line for line in agent.log)
                   > reloads, what="SIGHUP reload")
        agent.put("/v1/kv/other", "o2")  # its watch was removed: no run
        assert agent.put("/v1/kv/w/c", "y").status == 200
        wait_until(lambda: len(lines(counted)) >= 6, what="the change after SIGHUP")
        runs = lines(counted)
        # 1 initial run + 5 changes, no extra run on either reload.
        assert values(runs) == [[], ["djE="], ["djI="], ["djM="], ["djM=", "eA=="],
                                ["djM=", "eA==", "eQ=="]]
        indexes = [index for index, _ in runs]
        assert indexes == sorted(indexes) and len(set(indexes)) == len(indexes)
        assert [payload["Value"] for _, payload in lines(other)] == ["bzE="]
    finally:
        agent.stop()


class _Collector(BaseHTTPRequestHandler):
    def do_PUT(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.calls.append((self.command, self.path, dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_args) -> None:
        pass


@pytest.fixture
def collector():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    server.calls = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_http_handler_gets_json_body_and_index_header(tmp_path, collector):
    conf = tmp_path / "watches.json"
    write(conf, [{"type": "key", "key": "h/k", "handler_type": "http",
                  "http_handler_config": {
                      "path": f"http://127.0.0.1:{collector.server_port}/hook?x=1",
                      "method": "PUT", "header": {"X-Custom": ["a"]}, "timeout": "5s"}}])
    agent = start_agent("-config-file", str(conf))
    try:
        assert agent.put("/v1/kv/h/k", "hello").status == 200
        index = agent.get("/v1/kv/h/k").index
        wait_until(lambda: collector.calls, what="the HTTP handler call")
        method, path, headers, body = collector.calls[0]
        assert (method, path) == ("PUT", "/hook?x=1")
        assert headers["X-Custom"] == "a" and headers["Content-Type"] == "application/json"
        assert headers["X-Consul-Index"] == str(index)
        assert json.loads(body)["Key"] == "h/k" and json.loads(body)["Value"] == "aGVsbG8="
    finally:
        agent.stop()


def test_bad_watch_stops_start_and_fails_reload_keeping_the_old(tmp_path):
    conf = tmp_path / "watches.json"
    write(conf, [{"type": "key", "key": "k", "handler_type": "carrier-pigeon"}])
    with pytest.raises(RuntimeError, match="Handler type 'carrier-pigeon' not recognized"):
        start_agent("-config-file", str(conf))
    out = tmp_path / "out.log"
    write(conf, [script_watch(out, type="nodes")])
    agent = start_agent("-config-file", str(conf))
    try:
        wait_until(lambda: len(lines(out)) == 1, what="the initial run")
        write(conf, [{"type": "key", "args": ["true"]}])
        failed = agent.put("/v1/agent/reload")
        assert failed.status == 500 and "Must specify a single key to watch" in failed.text
        write(conf, [{"type": "nodes", "bogus": 1, "args": ["true"]}])
        failed = agent.put("/v1/agent/reload")
        assert failed.status == 500 and "Invalid parameters: [bogus]" in failed.text
    finally:
        agent.stop()
