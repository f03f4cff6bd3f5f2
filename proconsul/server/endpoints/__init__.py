"""Server endpoints, one module per Consul RPC service."""

from __future__ import annotations

import functools
import typing
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from proconsul.server.server import Server


def _services() -> tuple[type, ...]:
    from proconsul.server.endpoints.acl import ACLEndpoint
    from proconsul.server.endpoints.catalog import Catalog
    from proconsul.server.endpoints.config_entry import ConfigEntryEndpoint, DiscoveryChainEndpoint
    from proconsul.server.endpoints.connect_ca import ConnectCA
    from proconsul.server.endpoints.coordinate import CoordinateEndpoint
    from proconsul.server.endpoints.federation import Federation
    from proconsul.server.endpoints.federation_state import FederationStateEndpoint
    from proconsul.server.endpoints.health import Health
    from proconsul.server.endpoints.intention import IntentionEndpoint
    from proconsul.server.endpoints.internal import Internal
    from proconsul.server.endpoints.kvs import KVS
    from proconsul.server.endpoints.operator import Operator
    from proconsul.server.endpoints.peering import PeeringEndpoint
    from proconsul.server.endpoints.prepared_query import PreparedQueryEndpoint
    from proconsul.server.endpoints.session import SessionEndpoint
    from proconsul.server.endpoints.status import Status
    from proconsul.server.endpoints.txn import Txn

    return (Catalog, ConnectCA, CoordinateEndpoint, Health, KVS, Operator, SessionEndpoint, Status,
            Txn, ConfigEntryEndpoint, DiscoveryChainEndpoint, IntentionEndpoint,
            PreparedQueryEndpoint, Internal, Federation, ACLEndpoint, FederationStateEndpoint,
            PeeringEndpoint)


def register_all(server: Server) -> None:
    """Register every endpoint method as ``"<Service>.<Method>"`` on ``server``."""
    for endpoint in _services():
        instance = endpoint(server)
        for method in endpoint.METHODS:
            server.endpoints[f"{endpoint.NAME}.{method}"] = getattr(instance, method)


@functools.cache
def method_types() -> dict[str, tuple[Any, Any]]:
    """``"<Service>.<Method>"`` -> (request type, reply type), from the handlers' annotations.

    What the wire needs to decode a request (server side) or a reply (client side).
    """
    types = {}
    for endpoint in _services():
        for method in endpoint.METHODS:
            hints = typing.get_type_hints(getattr(endpoint, method))
            types[f"{endpoint.NAME}.{method}"] = (hints["req"], hints["return"])
    return types
