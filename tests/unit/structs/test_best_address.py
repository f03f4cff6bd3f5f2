"""Consul's BestAddress of a catalog row (CheckServiceNode.best_address): which tagged,
service or node address reaches an instance from this datacenter or another one."""

from __future__ import annotations

import pytest

from proconsul.structs.catalog import CheckServiceNode, Node, NodeService, ServiceAddress


def row(service_address: str = "", service_tagged: dict | None = None,
        node_tagged: dict | None = None) -> CheckServiceNode:
    service = NodeService(Service="gw", Address=service_address, Port=8443)
    if service_tagged is not None:
        service.TaggedAddresses = {name: ServiceAddress(Address=host, Port=port)
                                   for name, (host, port) in service_tagged.items()}
    return CheckServiceNode(Node=Node(Node="n1", Address="10.0.0.1", TaggedAddresses=node_tagged),
                            Service=service, Checks=[])


@pytest.mark.parametrize(("case", "wan", "expected"), [
    # the WAN: the service's wan tagged address first, with its own port when it has one
    (row("10.0.0.5", {"wan": ("192.0.2.5", 443)}, {"wan": "198.51.100.1"}), True,
     ("192.0.2.5", 443)),
    (row("10.0.0.5", {"wan": ("192.0.2.5", 0)}), True, ("192.0.2.5", 8443)),
    # then the service address, before the node's wan address
    (row("10.0.0.5", {"lan": ("10.0.0.6", 7000)}, {"wan": "198.51.100.1"}), True,
     ("10.0.0.5", 8443)),
    (row("", None, {"wan": "198.51.100.1"}), True, ("198.51.100.1", 8443)),
    (row(), True, ("10.0.0.1", 8443)),
    # a wan tagged address without a host leaves the host to the node (its port stays)
    (row("", {"wan": ("", 443)}, {"wan": "198.51.100.1"}), True, ("198.51.100.1", 443)),
    # the LAN: tagged addresses play no part, neither the service's nor the node's
    (row("10.0.0.5", {"wan": ("192.0.2.5", 443), "lan": ("10.0.0.6", 7000)}), False,
     ("10.0.0.5", 8443)),
    (row("", {"wan": ("192.0.2.5", 443)}, {"wan": "198.51.100.1"}), False,
     ("10.0.0.1", 8443)),
])
def test_best_address(case: CheckServiceNode, wan: bool, expected: tuple[str, int]):
    assert case.best_address(wan) == expected
