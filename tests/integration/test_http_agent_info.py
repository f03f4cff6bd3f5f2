"""/v1/agent/host, version, metrics and token against a real agent."""

from __future__ import annotations

import re
import socket

from proconsul import CONSUL_COMPAT_VERSION
from tests.support.agent_process import start_agent, wait_until

HOST = socket.gethostname()


def test_version(agent):
    reply = agent.get("/v1/agent/version")
    assert reply.status == 200
    body = reply.json()
    assert set(body) == {"SHA", "BuildDate", "HumanVersion", "FIPS"}
    assert body["HumanVersion"] == CONSUL_COMPAT_VERSION
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["BuildDate"])


def test_self_has_the_agents_own_lan_coordinate(agent):
    body = agent.get("/v1/agent/self").json()
    coord = body["Coord"]
    assert set(coord) == {"Vec", "Error", "Adjustment", "Height"} and len(coord["Vec"]) == 8
    node = body["Config"]["NodeName"]
    # the same coordinate the agent sends the servers (Coordinate.Update, first at start)
    wait_until(lambda: any(c["Node"] == node for c in agent.get("/v1/coordinate/nodes").json()),
               30, "the agent's coordinate in the catalog")
    assert body["xDS"]["SupportedProxies"]["envoy"]


def test_host(agent):
    reply = agent.get("/v1/agent/host")
    assert reply.status == 200
    body = reply.json()
    assert set(body) == {"Memory", "CPU", "Host", "Disk", "CollectionTime", "Errors"}
    assert body["Errors"] is None
    assert body["Memory"]["total"] > body["Memory"]["available"] > 0
    assert body["CPU"] and {"cpu", "modelName", "mhz", "cores"} <= set(body["CPU"][0])
    assert body["Host"]["os"] == "linux" and body["Host"]["hostname"]
    assert body["Disk"]["path"] == "/" and body["Disk"]["total"] >= body["Disk"]["used"] > 0
    assert body["CollectionTime"] > 1_600_000_000 * 10**9


def test_token_while_acls_are_disabled(agent):
    for kind in ("default", "agent", "agent_recovery", "replication", "nonsense"):
        reply = agent.put(f"/v1/agent/token/{kind}", {"Token": "secret"})
        assert reply.status == 401, kind
        assert reply.text == "ACL support disabled"
    assert agent.get("/v1/agent/token/default").status == 405


def test_metrics_json_shape(agent):
    def with_runtime_gauges() -> dict | None:
        reply = agent.get("/v1/agent/metrics")
        assert reply.status == 200
        body = reply.json()
        return body if any("runtime" in g["Name"] for g in body["Gauges"]) else None

    # the last finished 10 s interval: empty of gauges if the agent's start straddled it
    body = wait_until(with_runtime_gauges, 30, "the runtime gauges")
    assert set(body) == {"Timestamp", "Gauges", "Points", "Counters", "Samples"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC", body["Timestamp"])
    assert body["Points"] == []
    # go-metrics puts the host name into gauge names only (telemetry.disable_hostname = false)
    gauges = {g["Name"]: g for g in body["Gauges"]}
    assert gauges[f"consul.{HOST}.runtime.num_goroutines"]["Value"] >= 1
    assert gauges[f"consul.{HOST}.runtime.alloc_bytes"]["Value"] > 1_000_000
    assert gauges[f"consul.{HOST}.runtime.alloc_bytes"]["Labels"] == {}
    assert not any(g.startswith("consul.runtime.") for g in gauges)
    for sampled in body["Counters"] + body["Samples"]:
        assert set(sampled) == {"Name", "Count", "Rate", "Sum", "Min", "Max", "Mean", "Stddev",
                                "Labels"}
        assert not sampled["Name"].startswith(f"consul.{HOST}.")


def test_metrics_without_hostname():
    agent = start_agent("-hcl", "telemetry { disable_hostname = true }")

    def runtime_gauges() -> set[str] | None:
        names = {g["Name"] for g in agent.get("/v1/agent/metrics").json()["Gauges"]}
        return names if "consul.runtime.alloc_bytes" in names else None

    try:
        # The last finished 10 s interval is shown: if the start straddled a boundary
        # (under load), it holds no runtime gauges yet, and the next one will.
        names = wait_until(runtime_gauges, 30, "the runtime gauges")
        prometheus = agent.get("/v1/agent/metrics?format=prometheus").text
    finally:
        agent.stop()
    assert not any(HOST in name for name in names)
    assert "\nconsul_runtime_alloc_bytes " in prometheus


def _prometheus(agent) -> dict[str, float]:
    reply = agent.get("/v1/agent/metrics?format=prometheus")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    values = {}
    for line in reply.text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def test_prometheus_counts_what_the_agent_did(agent, unique):
    before = _prometheus(agent)
    assert agent.put(f"/v1/kv/{unique}", b"v").status == 200
    assert agent.put("/v1/catalog/register", {"Node": unique, "Address": "10.0.0.1"}).status == 200
    after = _prometheus(agent)

    def grew(name, by=1):
        return after.get(name, 0) - before.get(name, 0) >= by

    assert grew("consul_raft_apply", 2)
    assert grew("consul_kvs_apply_count")
    assert grew("consul_catalog_register_count")
    assert grew('consul_api_http_count{method="PUT",path="v1_kv_"}')
    assert grew("consul_http_PUT_v1_kv___count")
    # As in Consul, the Prometheus sink gets the same gauge names (host included).
    assert f"consul_{re.sub('[^a-zA-Z0-9_:]', '_', HOST)}_runtime_num_goroutines" in after
