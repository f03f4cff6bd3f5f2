"""Cache types for Connect: the CA roots, and leaf certificates made on this agent.

A leaf entry is made here: the agent generates the key and CSR, the servers
sign the CSR (ConnectCA.Sign) and never see the key. The entry's refresh
then waits on the agent's one shared roots watch (:mod:`..connect.roots_watch`)
until either the active root changes (re-issue at once) or the renewal time
comes (a random point between 60 % and 90 % of the leaf's life); each new leaf
gets a higher index, which wakes blocking readers.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, replace
from typing import Any

from msgspec.structs import replace as struct_replace

from proconsul.agent.cache.types import CacheType, FetchResult, Rpc
from proconsul.agent.connect.csr import LeafRequest, LeafRequestError, make_leaf_csr
from proconsul.agent.connect.renewal import next_renewal
from proconsul.agent.connect.roots_watch import RootsWatch
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

    def __init__(self) -> None:
        self.watches: dict[str, RootsWatch] = {}  # by datacenter, one per agent's cache

    def roots_watch(self, rpc: Rpc, datacenter: str) -> RootsWatch:
        watch = self.watches.get(datacenter)
        if watch is None:
            watch = self.watches[datacenter] = RootsWatch(rpc, datacenter)
        return watch

    async def stop(self) -> None:
        for watch in self.watches.values():
            await watch.stop()

    async def fetch(self, rpc: Rpc, request: Any, min_index: int,
                    last: FetchResult | None) -> FetchResult:
        watch = self.roots_watch(rpc, request.Datacenter)
        if last is not None:
            entry: LeafEntry = last.value
            now = _now()
            if now < entry.renew_at:
                wait = min((entry.renew_at - now).total_seconds(), MAX_QUERY_TIME_NS / 1e9)
                roots = await watch.wait_change(entry.roots_index, wait)
                roots_index = roots.Index if roots is not None else entry.roots_index
                active = roots.ActiveRootID if roots is not None else entry.active_root_id
                if active == entry.active_root_id and _now() < entry.renew_at:
                    return FetchResult(replace(entry, roots_index=roots_index), last.index)
        roots = await _roots(rpc, request, 0, 0)
        watch.observe(roots)
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
