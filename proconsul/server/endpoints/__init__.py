"""Server endpoints, one module per Consul RPC service."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from proconsul.server.server import Server


def register_all(server: Server) -> None:
    """Register every endpoint method as ``"<Service>.<Method>"`` on ``server``."""
    from proconsul.server.endpoints.catalog import Catalog
    from proconsul.server.endpoints.coordinate import CoordinateEndpoint
    from proconsul.server.endpoints.health import Health
    from proconsul.server.endpoints.kvs import KVS
    from proconsul.server.endpoints.operator import Operator
    from proconsul.server.endpoints.session import SessionEndpoint
    from proconsul.server.endpoints.status import Status
    from proconsul.server.endpoints.txn import Txn

    for endpoint in (Catalog, CoordinateEndpoint, Health, KVS, Operator, SessionEndpoint,
                     Status, Txn):
        instance = endpoint(server)
        for method in endpoint.METHODS:
            server.endpoints[f"{endpoint.NAME}.{method}"] = getattr(instance, method)
