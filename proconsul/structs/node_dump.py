"""Whole-catalog dumps the web UI reads (Consul's Internal.NodeDump/NodeInfo/ServiceDump)."""

from __future__ import annotations

from proconsul.structs.base import Record
from proconsul.structs.catalog import CheckServiceNode, HealthCheck, NodeService
from proconsul.structs.gateway_services import GatewayService
from proconsul.structs.query import QueryMeta
from proconsul.structs.requests import DCSpecificRequest


class NodeInfo(Record):
    """One node with its services and checks (an entry of Consul's NodeDump)."""

    ID: str = ""
    Node: str = ""
    Partition: str = ""
    PeerName: str = ""
    Address: str = ""
    Datacenter: str = ""
    TaggedAddresses: dict[str, str] | None = None
    Meta: dict[str, str] | None = None
    Services: list[NodeService] = []
    Checks: list[HealthCheck] = []


class IndexedNodeDump(QueryMeta):
    Dump: list[NodeInfo] = []
    ImportedDump: list[NodeInfo] = []  # every peer's imported nodes (NodeDump only)


class ServiceDumpRequest(DCSpecificRequest):
    """Every service instance, optionally of one kind only (``UseServiceKind``)."""

    ServiceKind: str = ""
    UseServiceKind: bool = False


class IndexedNodesWithGateways(QueryMeta):
    """Every instance with its checks, and the gateway-service links."""

    Nodes: list[CheckServiceNode] = []
    Gateways: list[GatewayService] = []
    ImportedNodes: list[CheckServiceNode] = []  # imported instances (of the PeerName if set)
