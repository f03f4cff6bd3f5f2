"""Cache types for Connect: the CA roots, and leaf certificates made on this agent.

A leaf entry is made here: the agent generates the key and CSR, the servers
sign the CSR (ConnectCA.Sign) and never see the key. The entry's refresh
then waits, with a blocking roots query, until either the active root changes
(re-issue at once) or the renewal time comes (a random point between 60 % and
90 % of the leaf's life); each new leaf gets a higher index, which wakes
blocking readers.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, replace
from typing import Any

from msgspec.structs import replace as struct_replace

from proconsul.agent.cache.types import CacheType, FetchResult, Rpc
from proconsul.agent.connect.csr import LeafRequest, LeafRequestError, make_leaf_csr
from proconsul.agent.connect.renewal import next_renewal
from proconsul.structs.connect import CASignRequest, IndexedCARoots, IssuedCert
from proconsul.structs.errors import ConsulError
from proconsul.structs.query import MAX_QUERY_TIME_NS, QueryOptions
from proconsul.structs.requests import DCSpecificRequest

__all__ = ["ConnectCALeaf", "ConnectCARoots", "LeafCertRequest", "LeafEntry"]


class LeafCertRequest(QueryOptions):
    """A cached leaf read: the service whose leaf this agent holds."""

    Datacenter: str = ""
    Service: str = ""


@dataclass(frozen=True)
class LeafEntry:
    """A leaf with its key, and what decides when it is replaced."""

    cert: IssuedCert
    roots_index: int
    active_root_id: str
    renew_at: datetime.datetime


class ConnectCARoots(CacheType):
    name = "connect-ca-root"
    rpc_method = "ConnectCA.Roots"


class ConnectCALeaf(CacheType):
    """Leaf certificates by service; see the module docstring."""

    name = "connect-ca-leaf"
    rpc_method = "ConnectCA.Sign"

    async def fetch(self, rpc: Rpc, request: Any, min_index: int,
                    last: FetchResult | None) -> FetchResult:
        if last is not None:
            entry: LeafEntry = last.value
            now = _now()
            if now < entry.renew_at:
                wait_ns = int((entry.renew_at - now).total_seconds() * 1e9)
                roots = await _roots(rpc, request, entry.roots_index,
                                     max(min(wait_ns, MAX_QUERY_TIME_NS), 1))
                if roots.ActiveRootID == entry.active_root_id and _now() < entry.renew_at:
                    return FetchResult(replace(entry, roots_index=roots.Index), last.index)
        roots = await _roots(rpc, request, 0, 0)
        try:
            csr, key_pem = make_leaf_csr(
                LeafRequest(datacenter=request.Datacenter, service=request.Service),
                roots.TrustDomain)
        except LeafRequestError as exc:
            raise ConsulError(str(exc)) from None
        cert: IssuedCert = await rpc(self.rpc_method, CASignRequest(
            CSR=csr, Datacenter=request.Datacenter, Token=request.Token))
        index = max(cert.ModifyIndex, last.index + 1 if last is not None else 1)
        cert = struct_replace(cert, PrivateKeyPEM=key_pem, CreateIndex=index,
                              ModifyIndex=index)
        renew_at = next_renewal(_now(), cert.ValidAfter, cert.ValidBefore)
        return FetchResult(LeafEntry(cert, roots.Index, roots.ActiveRootID, renew_at), index)


async def _roots(rpc: Rpc, request: Any, min_index: int, wait_ns: int) -> IndexedCARoots:
    return await rpc("ConnectCA.Roots", DCSpecificRequest(
        Datacenter=request.Datacenter, Token=request.Token, MinQueryIndex=min_index,
        MaxQueryTime=wait_ns, AllowStale=True))


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
