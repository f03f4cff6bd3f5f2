"""Upstream endpoints from the agent's answers, and the dial order."""

from __future__ import annotations

import random

from proconsul.agent.proxy.balancer import Balancer, Endpoint, endpoints


def entry(kind: str = "connect-proxy", address: str = "", port: int = 21000,
          destination: str = "api", native: bool = False, name: str = "api-sidecar-proxy"):
    svc = {"Kind": kind, "Service": name, "Address": address, "Port": port,
           "Proxy": {"DestinationServiceName": destination} if kind else {}}
    if native:
        svc["Connect"] = {"Native": True}
    return {"Node": {"Node": "n1", "Address": "10.0.0.1", "Datacenter": "dc1"}, "Service": svc}


def test_proxies_native_services_and_address_fallback():
    found = endpoints([entry(address="10.0.0.9"), entry(),
                       entry(kind="", name="db", native=True, port=5),
                       entry(kind="", name="plain", port=6)])
    assert found == [Endpoint("10.0.0.9", 21000, "api", "dc1", "n1"),
                     Endpoint("10.0.0.1", 21000, "api", "dc1", "n1"),
                     Endpoint("10.0.0.1", 5, "db", "dc1", "n1")]


def test_round_robin_tries_every_endpoint_once_per_connection():
    balancer = Balancer(random.Random(1))
    assert balancer.order() == []
    eps = [Endpoint(f"10.0.0.{i}", 1, "api", "dc1") for i in range(3)]
    assert balancer.update(eps)
    assert not balancer.update(list(reversed(eps)))
    first, second = balancer.order(), balancer.order()
    assert sorted(first, key=str) == eps and len(second) == 3
    assert second[0] == first[1]
    assert balancer.update(eps[:1])
    assert balancer.order() == eps[:1]
