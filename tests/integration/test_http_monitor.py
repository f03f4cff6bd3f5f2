"""/v1/agent/monitor: live log lines from a real agent."""

from __future__ import annotations

import http.client
import json
from contextlib import contextmanager


@contextmanager
def monitor(agent, query: str):
    conn = http.client.HTTPConnection(agent.host, agent.port, timeout=15)
    try:
        conn.request("GET", "/v1/agent/monitor?" + query)
        response = conn.getresponse()
        assert response.status == 200
        yield response
    finally:
        conn.close()


def lines_until(response, marker: str) -> list[str]:
    """Lines read from the stream up to the first one containing ``marker``."""
    seen = []
    while True:
        line = response.readline().decode()
        assert line, f"stream ended before {marker!r}: {seen}"
        seen.append(line)
        if marker in line:
            return seen


def test_debug_stream_shows_requests(agent, unique):
    with monitor(agent, "loglevel=debug") as stream:
        assert agent.get(f"/v1/agent/self?marker={unique}").status == 200
        line = lines_until(stream, unique)[-1]
    assert "[DEBUG] agent.http: Request finished: method=GET url=/v1/agent/self" in line


def test_level_filters_and_json_format(agent, unique):
    with monitor(agent, "loglevel=WARN&logjson") as stream:
        assert agent.get(f"/v1/agent/self?marker={unique}-debug").status == 200
        # A catalog write on the agent's own node is logged as a warning.
        node = agent.get("/v1/agent/self").json()["Config"]["NodeName"]
        reply = agent.put("/v1/catalog/register", {"Node": node, "Address": agent.host,
                                                    "Service": {"Service": unique}})
        assert reply.status == 200
        seen = lines_until(stream, node)
    records = [json.loads(line) for line in seen]
    assert all(unique + "-debug" not in r["@message"] for r in records)
    assert records[-1]["@level"] == "warn"
    assert records[-1]["@module"] == "agent.http"
    assert set(records[-1]) == {"@level", "@message", "@module", "@timestamp"}


def test_invalid_level_is_400(agent):
    reply = agent.get("/v1/agent/monitor?loglevel=loud")
    assert reply.status == 400
    assert reply.text == "Unknown log level: loud"
