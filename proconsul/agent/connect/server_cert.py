"""A server's own Connect leaf (Consul's server certificate manager): SPIFFE ID
``spiffe://<trust-domain>/agent/server/dc/<dc>`` and DNS SAN
``server.<dc>.peering.<trust-domain>``, served on the gRPC TLS port to peering
dialers, who verify it with the Connect CA roots a peering token carries.

Every server runs it. It follows the CA roots with blocking reads and asks for a
new leaf (a fresh key and CSR, signed by ConnectCA.Sign on the leader) when it
has none, when the active root changes (rotation) and at the renewal time (a
random point between 60 % and 90 % of the leaf's life). Failures retry with
backoff. Its RPCs carry ``token()``: the servers' internal management token, so
ACLs need no operator token on the servers.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from proconsul.agent.connect.csr import LeafRequest, make_leaf_csr
from proconsul.agent.connect.renewal import next_renewal
from proconsul.structs.connect import CASignRequest, IndexedCARoots, IssuedCert
from proconsul.structs.connect_ids import peering_server_san
from proconsul.structs.requests import DCSpecificRequest

__all__ = ["ServerCertManager"]

log = logging.getLogger("agent.connect")

Rpc = Callable[[str, Any], Awaitable[Any]]
BACKOFF_MIN = 0.25
BACKOFF_MAX = 30.0
MAX_WAIT = 600.0  # a blocking roots read never waits longer than this


class ServerCertManager:
    """Keeps this server's peering leaf current and hands each new one to ``on_cert``
    (leaf PEM with intermediates, private key PEM)."""

    def __init__(self, rpc: Rpc, datacenter: str, on_cert: Callable[[str, str], None],
                 token: Callable[[], str] = str) -> None:
        self.rpc = rpc
        self.datacenter = datacenter
        self.on_cert = on_cert
        self.token = token
        self.cert: IssuedCert | None = None
        self.server_name = ""  # server.<dc>.peering.<trust-domain> once known
        self._active_root = ""
        self._renew_at = _now()

    async def run(self) -> None:
        index, failures = 0, 0
        while True:
            try:
                roots = await self._roots(index)
                index = roots.Index if roots.Index >= index else 0
                if roots.TrustDomain and roots.ActiveRootID and self._due(roots):
                    await self._renew(roots)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as err:  # noqa: BLE001 -- RPC failures of any kind retry
                failures += 1
                log.warning("connect: server certificate: %s; retrying", err)
                await asyncio.sleep(min(BACKOFF_MAX, BACKOFF_MIN * 2 ** (failures - 1)))

    def _due(self, roots: IndexedCARoots) -> bool:
        return (self.cert is None or roots.ActiveRootID != self._active_root
                or _now() >= self._renew_at)

    async def _roots(self, index: int) -> IndexedCARoots:
        wait = MAX_WAIT
        if self.cert is not None:
            wait = min(wait, max(0.0, (self._renew_at - _now()).total_seconds()))
        return await self.rpc("ConnectCA.Roots", DCSpecificRequest(
            Datacenter=self.datacenter, MinQueryIndex=index if wait > 0 else 0,
            MaxQueryTime=int(wait * 1e9), AllowStale=True, Token=self.token()))

    async def _renew(self, roots: IndexedCARoots) -> None:
        csr, key_pem = make_leaf_csr(LeafRequest(datacenter=self.datacenter, server=True),
                                     roots.TrustDomain)
        cert: IssuedCert = await self.rpc("ConnectCA.Sign", CASignRequest(
            CSR=csr, Datacenter=self.datacenter, Token=self.token()))
        self.cert, self._active_root = cert, roots.ActiveRootID
        self._renew_at = next_renewal(_now(), cert.ValidAfter, cert.ValidBefore)
        self.server_name = peering_server_san(self.datacenter, roots.TrustDomain)
        log.info("connect: new server certificate for %s (serial %s)", self.server_name,
                 cert.SerialNumber)
        self.on_cert(cert.CertPEM, key_pem)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
