"""The leaf cache type's refresh: a new leaf when the active root changes or the renewal
time comes, the same entry (same index) otherwise; the key never goes to the server."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import uuid

from msgspec.structs import replace

from proconsul.agent.cache.connect_ca import ConnectCALeaf, LeafCertRequest
from proconsul.agent.cache.types import FetchResult
from proconsul.structs.connect import IndexedCARoots, IssuedCert

TD = f"{uuid.uuid4()}.consul"


class FakeServers:
    """ConnectCA.Roots and ConnectCA.Sign, recording what the agent sent."""

    def __init__(self) -> None:
        self.roots = IndexedCARoots(ActiveRootID="r1", TrustDomain=TD, Index=10)
        self.sent: list = []
        self.signed = 0

    async def __call__(self, method: str, request):
        self.sent.append((method, request))
        if method == "ConnectCA.Roots":
            return self.roots
        self.signed += 1
        now = datetime.datetime.now(datetime.UTC)
        return IssuedCert(SerialNumber=f"{self.signed:02x}", CertPEM="CERT",
                          ValidAfter=now - datetime.timedelta(minutes=1),
                          ValidBefore=now + datetime.timedelta(hours=72),
                          CreateIndex=10, ModifyIndex=10)


REQUEST = LeafCertRequest(Datacenter="dc1", Service="web")


async def test_first_fetch_makes_the_key_here_and_sends_only_the_csr():
    servers = FakeServers()
    result = await ConnectCALeaf().fetch(servers, REQUEST, 0, None)
    assert result.index == 10 and result.value.cert.PrivateKeyPEM.startswith("-----BEGIN")
    [(_, sign)] = [s for s in servers.sent if s[0] == "ConnectCA.Sign"]
    assert "CERTIFICATE REQUEST" in sign.CSR and "PRIVATE KEY" not in sign.CSR
    now = datetime.datetime.now(datetime.UTC)
    life = datetime.timedelta(hours=72)
    assert now + life * 0.59 < result.value.renew_at < now + life * 0.91


async def test_unchanged_roots_keep_the_leaf_and_its_index():
    servers = FakeServers()
    ctype = ConnectCALeaf()
    first = await ctype.fetch(servers, REQUEST, 0, None)
    servers.roots = replace(servers.roots, Index=11)  # e.g. a prune: same active root
    again = await ctype.fetch(servers, REQUEST, first.index, first)
    assert again.index == first.index and again.value.cert is first.value.cert
    assert again.value.roots_index == 11 and servers.signed == 1
    blocking = [r for m, r in servers.sent if m == "ConnectCA.Roots" and r.MinQueryIndex]
    assert blocking[0].MinQueryIndex == 10 and blocking[0].AllowStale


async def test_a_new_active_root_or_the_renewal_time_brings_a_new_leaf():
    servers = FakeServers()
    ctype = ConnectCALeaf()
    first = await ctype.fetch(servers, REQUEST, 0, None)
    servers.roots = replace(servers.roots, ActiveRootID="r2", Index=12)
    rotated = await ctype.fetch(servers, REQUEST, first.index, first)
    assert rotated.index > first.index and servers.signed == 2
    assert rotated.value.active_root_id == "r2"
    due = FetchResult(replace_entry(rotated.value), rotated.index)
    renewed = await ctype.fetch(servers, REQUEST, due.index, due)
    assert renewed.index > rotated.index and servers.signed == 3


def replace_entry(entry):
    """``entry`` due for renewal a second ago."""
    return dataclasses.replace(entry, renew_at=datetime.datetime.now(datetime.UTC)
                               - datetime.timedelta(seconds=1))


class BlockingServers(FakeServers):
    """Roots queries block, as a server's do, until the roots change."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = asyncio.Event()
        self.open = 0
        self.most_open = 0

    async def __call__(self, method: str, request):
        if method == "ConnectCA.Roots" and request.MinQueryIndex >= self.roots.Index:
            self.open += 1
            self.most_open = max(self.most_open, self.open)
            try:
                await self.changed.wait()
            finally:
                self.open -= 1
        return await super().__call__(method, request)

    def rotate(self) -> None:
        self.roots = replace(self.roots, ActiveRootID="r2", Index=self.roots.Index + 1)
        self.changed.set()
        self.changed = asyncio.Event()


async def test_cached_leaves_share_one_roots_query_and_a_rotation_wakes_them_all():
    servers = BlockingServers()
    ctype = ConnectCALeaf()
    requests = [LeafCertRequest(Datacenter="dc1", Service=f"svc{i}") for i in range(20)]
    firsts = [await ctype.fetch(servers, r, 0, None) for r in requests]
    refreshes = [asyncio.create_task(ctype.fetch(servers, r, f.index, f))
                 for r, f in zip(requests, firsts, strict=True)]
    watch = ctype.watches["dc1"]
    for _ in range(10_000):  # until every refresh waits on the watch
        if watch._waiters == len(requests) and servers.open:
            break
        await asyncio.sleep(0)
    assert servers.open == 1 and ctype.watches["dc1"].open_queries == 1
    servers.rotate()
    renewed = await asyncio.wait_for(asyncio.gather(*refreshes), 5)
    assert all(r.value.active_root_id == "r2" for r in renewed)
    assert servers.signed == 40 and servers.most_open == 1
    await ctype.stop()
