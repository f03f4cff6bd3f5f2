"""Envoy resources as protobuf: built as proto-JSON dicts, parsed once into typed messages.

Importing this module registers every Envoy type the resource builders name
in ``@type`` fields, so ``google.protobuf.Any`` members resolve.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.http.header_to_metadata.v3 import (  # noqa: F401
    header_to_metadata_pb2,
)
from envoy.extensions.filters.http.rbac.v3 import rbac_pb2 as http_rbac_pb2  # noqa: F401
from envoy.extensions.filters.http.router.v3 import router_pb2  # noqa: F401
from envoy.extensions.filters.listener.original_dst.v3 import original_dst_pb2  # noqa: F401
from envoy.extensions.filters.listener.tls_inspector.v3 import (  # noqa: F401
    tls_inspector_pb2,
)
from envoy.extensions.filters.network.http_connection_manager.v3 import (  # noqa: F401
    http_connection_manager_pb2,
)
from envoy.extensions.filters.network.rbac.v3 import rbac_pb2  # noqa: F401
from envoy.extensions.filters.network.sni_cluster.v3 import sni_cluster_pb2  # noqa: F401
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2  # noqa: F401
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2  # noqa: F401
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2  # noqa: F401
from google.protobuf import any_pb2, json_format

PREFIX = "type.googleapis.com/"
LISTENER = PREFIX + "envoy.config.listener.v3.Listener"
ROUTE = PREFIX + "envoy.config.route.v3.RouteConfiguration"
CLUSTER = PREFIX + "envoy.config.cluster.v3.Cluster"
ENDPOINT = PREFIX + "envoy.config.endpoint.v3.ClusterLoadAssignment"
SECRET = PREFIX + "envoy.extensions.transport_sockets.tls.v3.Secret"

MESSAGES = {LISTENER: listener_pb2.Listener, ROUTE: route_pb2.RouteConfiguration,
            CLUSTER: cluster_pb2.Cluster, ENDPOINT: endpoint_pb2.ClusterLoadAssignment}


def typed(type_name: str, **fields: Any) -> dict[str, Any]:
    """A proto-JSON ``Any``: ``{"@type": type.googleapis.com/<type_name>, ...fields}``."""
    return {"@type": PREFIX + type_name, **fields}


@dataclass(frozen=True, slots=True)
class Resource:
    """One encoded resource: its name, its ``Any`` and its version (hex SHA-256 of the bytes)."""

    name: str
    any: any_pb2.Any
    version: str


def encode(type_url: str, name: str, body: dict[str, Any]) -> Resource:
    """Parse ``body`` into the type's message; ValueError says which field is wrong."""
    try:
        message = json_format.ParseDict(body, MESSAGES[type_url]())
    except json_format.ParseError as err:
        raise ValueError(f"{type_url.removeprefix(PREFIX)} {name!r}: {err}") from None
    data = message.SerializeToString(deterministic=True)
    packed = any_pb2.Any(type_url=type_url, value=data)
    return Resource(name, packed, hashlib.sha256(data).hexdigest())
