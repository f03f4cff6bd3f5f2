"""ConnectCA.*: the trusted roots (blocking), leaf signing, the CA configuration."""

from __future__ import annotations

from typing import TYPE_CHECKING

from proconsul.server.connect.ca import indexed_roots
from proconsul.structs.connect import (
    CAConfiguration,
    CARequest,
    CASignRequest,
    IndexedCARoots,
    IssuedCert,
)
from proconsul.structs.requests import DCSpecificRequest

if TYPE_CHECKING:
    from proconsul.server.server import Server


class ConnectCA:
    """The ConnectCA RPC service; the CA itself is the server's CAManager."""

    NAME = "ConnectCA"
    METHODS = ("Roots", "Sign", "ConfigurationGet", "ConfigurationSet")

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
        return await self.server.ca.sign(req)

    async def ConfigurationGet(self, req: DCSpecificRequest) -> CAConfiguration:
        return self.server.ca.configuration()

    async def ConfigurationSet(self, req: CARequest) -> bool:
        await self.server.ca.set_configuration(req)
        return True
