"""Prepared-query failover across datacenters (on 127.0.0.x addresses: nothing here needs
the WAN cut): a query in dc2 whose service has no healthy instance there answers from
dc1."""

from __future__ import annotations

import pytest

from tests.integration.test_multidc import ok
from tests.support.datacenters import network, start_datacenters


@pytest.fixture
def lab():
    with network(None) as lab:
        yield lab


def test_a_query_in_dc2_fails_over_to_dc1_by_nearest_n_and_by_datacenters(lab):
    servers = start_datacenters(lab, {"dc1": 1, "dc2": 1}, primary=None).servers
    dc1, dc2 = servers["dc1"][0], servers["dc2"][0]
    ok(dc1.put("/v1/agent/service/register", {"Name": "web", "Port": 8080}))
    # dc2 has web too, but failing: failover skips it.
    ok(dc2.put("/v1/agent/service/register",
               {"Name": "web", "Port": 8080, "Check": {"TTL": "60s", "Status": "critical"}}))

    for name, failover in (("nearest", {"NearestN": 1}), ("listed", {"Datacenters": ["dc1"]})):
        ok(dc2.call("POST", "/v1/query", {"Name": name, "Service": {
            "Service": "web", "OnlyPassing": True, "Failover": failover}}))
        answer = ok(dc2.get(f"/v1/query/{name}/execute")).json()
        assert answer["Datacenter"] == "dc1" and answer["Failovers"] == 1, answer
        assert [n["Node"]["Node"] for n in answer["Nodes"]] == [dc1.get(
            "/v1/agent/self").json()["Config"]["NodeName"]]

    # Without failover the query stays in dc2 and finds nothing.
    ok(dc2.call("POST", "/v1/query", {"Name": "local", "Service": {"Service": "web",
                                                            "OnlyPassing": True}}))
    answer = ok(dc2.get("/v1/query/local/execute")).json()
    assert answer["Datacenter"] == "dc2" and answer["Failovers"] == 0 and not answer["Nodes"]
