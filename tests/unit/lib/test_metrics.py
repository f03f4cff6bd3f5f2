"""The in-memory metrics registry: intervals, aggregates and both output formats."""

from __future__ import annotations

import math

from proconsul.agent.http.agent_metrics import route_names
from proconsul.lib.metrics import Metrics, sample_key


def registry_at(now: list[float]) -> Metrics:
    return Metrics(interval=10.0, retain=60.0, clock=lambda: now[0], timer=lambda: now[0])


def test_summary_shows_the_last_finished_interval():
    now = [1_000.0]
    m = registry_at(now)
    m.incr_counter("consul.kvs.x")
    assert [c["Name"] for c in m.summary()["Counters"]] == ["consul.kvs.x"]  # only interval
    now[0] = 1_012.0
    m.incr_counter("consul.kvs.y")
    summary = m.summary()
    assert [c["Name"] for c in summary["Counters"]] == ["consul.kvs.x"]
    assert summary["Timestamp"] == "1970-01-01 00:16:40 +0000 UTC"


def test_aggregates_match_go_metrics():
    now = [0.0]
    m = registry_at(now)
    for value in (1, 2, 3, 4):
        m.add_sample("consul.t", value, {"method": "GET"})
    (sample,) = m.summary()["Samples"]
    assert sample == {"Name": "consul.t", "Count": 4, "Rate": 1.0, "Sum": 10.0, "Min": 1.0,
                      "Max": 4.0, "Mean": 2.5, "Stddev": math.sqrt(5 / 3),
                      "Labels": {"method": "GET"}}


def test_old_intervals_are_dropped():
    now = [0.0]
    m = registry_at(now)
    for step in range(20):
        now[0] = step * 10.0
        m.set_gauge("g", step)
    assert len(m._intervals) == 6
    assert m.summary()["Gauges"] == [{"Name": "g", "Value": 18, "Labels": {}}]


def test_measure_since_records_milliseconds():
    now = [5.0]
    m = registry_at(now)
    start = m.timer()
    now[0] = 5.25
    m.measure_since("consul.kvs.apply", start)
    assert m.summary()["Samples"][0]["Sum"] == 250.0


def test_prometheus_is_cumulative_across_intervals():
    now = [0.0]
    m = registry_at(now)
    m.incr_counter("consul.raft.apply")
    now[0] = 100.0
    m.incr_counter("consul.raft.apply", 2)
    m.add_sample("consul.api.http", 1.5, {"method": "GET", "path": 'v1_"x"'})
    m.set_gauge("consul.runtime.num_goroutines", 7)
    assert m.prometheus().splitlines() == [
        "# TYPE consul_runtime_num_goroutines gauge",
        "consul_runtime_num_goroutines 7",
        "# TYPE consul_raft_apply counter",
        "consul_raft_apply 3",
        "# TYPE consul_api_http summary",
        'consul_api_http_sum{method="GET",path="v1_\\"x\\""} 1.5',
        'consul_api_http_count{method="GET",path="v1_\\"x\\""} 1',
    ]


def test_route_names_follow_consul():
    assert route_names("/v1/kv/{key}") == ("v1_kv_", "v1.kv._")
    assert route_names("/v1/agent/metrics") == ("v1_agent_metrics", "v1.agent.metrics")
    assert route_names("/v1/catalog/service/{service}") == ("v1_catalog_service_",
                                                             "v1.catalog.service._")
    assert route_names("/") == ("", "")


def test_hostname_goes_into_gauge_names_only():
    m = Metrics(clock=lambda: 5.0)
    m.hostname = "node-a"
    m.set_gauge("consul.runtime.alloc_bytes", 1, {"x": "y"})
    m.incr_counter("consul.raft.apply")
    m.add_sample("consul.kvs.apply", 2.0)
    summary = m.summary()
    assert [g["Name"] for g in summary["Gauges"]] == ["consul.node-a.runtime.alloc_bytes"]
    assert [c["Name"] for c in summary["Counters"]] == ["consul.raft.apply"]
    assert [s["Name"] for s in summary["Samples"]] == ["consul.kvs.apply"]
    assert "consul_node_a_runtime_alloc_bytes{x=\"y\"} 1" in m.prometheus()


def test_metrics_prefix_renames_and_prefix_filter_decides_by_longest_prefix():
    now = [0.0]
    m = registry_at(now)
    m.configure(service="acme", filter_default=False,
                allowed=("acme.raft", "acme.http.GET"), blocked=("acme.raft.apply",))
    m.incr_counter("consul.raft.state.leader")
    m.incr_counter("consul.raft.apply")
    m.add_sample("consul.http.GET.v1.kv._", 1.0)
    m.add_sample("consul.http.PUT.v1.kv._", 1.0)
    m.set_gauge("consul.runtime.alloc_bytes", 5)
    summary = m.summary()
    assert [c["Name"] for c in summary["Counters"]] == ["acme.raft.state.leader"]
    assert [s["Name"] for s in summary["Samples"]] == ["acme.http.GET.v1.kv._"]
    assert summary["Gauges"] == []
    m.configure(blocked=("consul.http",))  # defaults back: consul., allow by default
    m.add_sample("consul.http.GET.v1.kv._", 1.0)
    m.incr_counter("consul.kvs.apply")
    names = [c["Name"] for c in m.summary()["Counters"]]
    assert "consul.kvs.apply" in names
    assert "consul.http.GET.v1.kv._" not in m.prometheus()


def test_counters_by_key_count_as_labelled_counters_and_follow_the_filter():
    from proconsul.lib.metrics import sample_key

    now = [0.0]
    by_name, by_key = registry_at(now), registry_at(now)
    keys = (sample_key("consul.health.service.query", {"service": "web", "a": "b"}),
            sample_key("consul.health.service.not-found", {"service": "web", "a": "b"}))
    for value in (1, 2):
        by_name.incr_counter("consul.health.service.query", value, {"a": "b", "service": "web"})
        by_name.incr_counter("consul.health.service.not-found", value,
                             {"service": "web", "a": "b"})
        by_key.incr_counters(keys, value)
    assert by_key.summary() == by_name.summary() and by_key.prometheus() == by_name.prometheus()
    for m in (by_name, by_key):
        m.configure(service="svc", blocked=("svc.health.service.not-found",))
    by_name.incr_counter("consul.health.service.query", labels={"service": "web", "a": "b"})
    by_key.incr_counters(keys)
    assert by_key.prometheus() == by_name.prometheus()
    assert "svc_health_service_query" in by_key.prometheus()
    assert "svc_health_service_not_found" not in by_key.prometheus()


def test_a_key_set_used_again_records_into_each_interval_and_follows_configure():
    """add_samples caches a key set's aggregates per interval: each interval still gets
    its own counts and sums, the totals go on across them, and a new prefix filter
    or service prefix applies at once."""
    now = [0.0]
    m = registry_at(now)
    keys = (sample_key("consul.kvs.apply"), sample_key("consul.api.http", {"method": "PUT"}))
    for value in (1.0, 2.0):
        m.add_samples(keys, value)
    now[0] = 10.0  # the next interval
    m.add_samples(keys, 4.0)
    m.add_sample("consul.kvs.apply", 8.0)  # the same key, through another tuple
    now[0] = 20.0
    m.add_samples(keys, 0.5)
    shown = {(s["Name"], s["Count"], s["Sum"]) for s in m.summary()["Samples"]}
    assert shown == {("consul.kvs.apply", 2, 12.0), ("consul.api.http", 1, 4.0)}
    assert m._sample_totals[("consul.kvs.apply", ())] == [5, 15.5]
    m.configure(service="proconsul", blocked=("proconsul.api",))
    m.add_samples(keys, 16.0)  # the same interval as the sample before
    now[0] = 30.0
    shown = {(s["Name"], s["Count"], s["Sum"]) for s in m.summary()["Samples"]}
    assert shown == {("consul.kvs.apply", 1, 0.5), ("consul.api.http", 1, 0.5),
                     ("proconsul.kvs.apply", 1, 16.0)}
    assert "proconsul_kvs_apply_count 1" in m.prometheus()
