"""What a peering token tells the dialing cluster about this one: the servers' gRPC TLS
addresses, the name their certificate carries and the CA roots that sign it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from proconsul.server.connect.ca import indexed_roots
from proconsul.structs.connect_ids import peering_server_san
from proconsul.structs.errors import BadRequest, ConsulError

if TYPE_CHECKING:
    from proconsul.server.server import Server

CONSUL_SERVICE = "consul"
GRPC_TLS_PORT_META = "grpc_tls_port"


def tls_materials(server: Server, generating: bool) -> tuple[str, list[str]]:
    """(server name, CA root PEMs) of this cluster. Generating a token also needs
    Connect and the gRPC TLS port, which the dialer will reach."""
    if generating:
        if not server.config.connect_enabled:
            raise BadRequest("connect.enabled must be set to true in the server's "
                             "configuration when generating peering tokens")
        if server.config.grpc_tls_port <= 0:
            raise BadRequest("TLS for gRPC must be enabled when generating peering tokens")
    store = server.store
    roots = store.ca_roots_read(None)[1]
    config = store.ca_config_read(None)[1]
    built = indexed_roots(roots, config.ClusterID if config is not None else "")
    if not built.Roots or not built.TrustDomain:
        raise ConsulError("CA has not finished initializing")
    pems = [r.RootCert if r.RootCert.endswith("\n") else r.RootCert + "\n" for r in built.Roots]
    return peering_server_san(server.config.datacenter, built.TrustDomain), pems


def server_addresses(server: Server) -> list[str]:
    """``address:grpc_tls_port`` of every server in the catalog that serves gRPC TLS."""
    rows = server.store.service_nodes(None, CONSUL_SERVICE)[1]
    addresses = [f"{row.Address}:{row.ServiceMeta[GRPC_TLS_PORT_META]}" for row in rows
                 if (row.ServiceMeta or {}).get(GRPC_TLS_PORT_META, "").isdigit()]
    if not addresses:
        raise ConsulError("a grpc bind port must be specified in the configuration for all "
                          "servers")
    return sorted(addresses)
