"""ConnectCA.*: the trusted roots (blocking), leaf and intermediate signing, the CA
configuration."""

from __future__ import annotations

from typing import TYPE_CHECKING

from proconsul.server.acl_enforce import Identity
from proconsul.server.connect.ca import indexed_roots
from proconsul.server.connect.ca.leaf import parse_leaf_csr
from proconsul.structs.connect import (
    CAConfiguration,
    CARequest,
    CASignRequest,
    IndexedCARoots,
    IssuedCert,
)
from proconsul.structs.connect_ids import SpiffeIDAgent, SpiffeIDMeshGateway, SpiffeIDService
from proconsul.structs.requests import DCSpecificRequest

if TYPE_CHECKING:
    from proconsul.server.server import Server


class ConnectCA:
    """The ConnectCA RPC service; the CA itself is the server's CAManager."""

    NAME = "ConnectCA"
    METHODS = ("Roots", "Sign", "SignIntermediate", "ConfigurationGet", "ConfigurationSet")

    def __init__(self, server: Server) -> None:
        self.server = server

    async def Roots(self, req: DCSpecificRequest) -> IndexedCARoots:
        self.server.ca.require_enabled()
        store = self.server.store
        reply = IndexedCARoots()

        def query(ws) -> int:
            index, roots = store.ca_roots_read(ws)
            _, config = store.ca_config_read(ws)
            built = indexed_roots(roots, config.ClusterID or "" if config else "", index)
            reply.ActiveRootID, reply.TrustDomain = built.ActiveRootID, built.TrustDomain
            reply.Roots = built.Roots
            return index

        await self.server.blocking_query(req, reply, query)
        return reply

    async def Sign(self, req: CASignRequest) -> IssuedCert:
        ident = self.server.authz.resolve(req.Token)
        if ident.enforcing:
            self.server.ca.require_enabled()
            _require_sign(ident, parse_leaf_csr(req.CSR)[1])
        return await self.server.ca.sign(req)

    async def SignIntermediate(self, req: CASignRequest) -> str:
        """A secondary datacenter's intermediate, signed by the primary's root
        (``operator:write``; secondaries call it with their replication token)."""
        self.server.ca.require_enabled()
        self.server.authz.resolve(req.Token).require("operator_write")
        return await self.server.ca.sign_intermediate(req)

    async def ConfigurationGet(self, req: DCSpecificRequest) -> CAConfiguration:
        self.server.authz.resolve(req.Token).require("operator_write")
        return self.server.ca.configuration()

    async def ConfigurationSet(self, req: CARequest) -> bool:
        self.server.authz.resolve(req.Token).require("operator_write")
        await self.server.ca.set_configuration(req)
        return True


def _require_sign(ident: Identity, uri: object) -> None:
    """What signing a leaf for ``uri`` needs: ``service:write`` on a service,
    ``node:write`` on an agent, ``service:write`` on ``mesh-gateway``, else
    ``operator:write``."""
    if isinstance(uri, SpiffeIDService):
        ident.require("service_write", uri.service)
    elif isinstance(uri, SpiffeIDAgent):
        ident.require("node_write", uri.agent)
    elif isinstance(uri, SpiffeIDMeshGateway):
        ident.require("service_write", "mesh-gateway")
    else:
        ident.require("operator_write")
