"""Forwarder in a secondary datacenter: writes of global objects go to the primary."""

from __future__ import annotations

import pytest

from proconsul.rpc.pool import FakePool
from proconsul.server.forward import Forwarder
from proconsul.structs.acl import ACLToken
from proconsul.structs.acl_rpc import ACLTokenSetRequest
from proconsul.structs.config_entry_rpc import ConfigEntryRequest
from proconsul.structs.errors import ERR_NO_PATH_TO_DC, ConsulError
from proconsul.structs.kv import DirEntry, KVSRequest
from tests.unit.server.test_forward import Consensus, Local

ENTRY = {"Kind": "service-defaults", "Name": "web"}


def secondary(primary: str = "dc1") -> Forwarder:
    return Forwarder(Consensus(is_leader=True), FakePool(), datacenter="dc2",
                     primary_datacenter=primary)


@pytest.mark.parametrize("method, request_", [
    ("ConfigEntry.Apply", ConfigEntryRequest(Entry=ENTRY)),
    ("ConfigEntry.Delete", ConfigEntryRequest(Datacenter="dc2", Entry=ENTRY)),
    ("ACL.TokenSet", ACLTokenSetRequest(ACLToken=ACLToken(Description="global"))),
])
async def test_global_writes_in_a_secondary_are_sent_to_the_primary(method, request_) -> None:
    local = Local()
    with pytest.raises(ConsulError, match=ERR_NO_PATH_TO_DC):  # no WAN route to dc1 here
        await secondary().run(method, request_, local)
    assert not local.calls


@pytest.mark.parametrize("method, request_", [
    ("KVS.Apply", KVSRequest(Op="set", DirEnt=DirEntry(Key="k"))),
    ("ACL.TokenSet", ACLTokenSetRequest(ACLToken=ACLToken(Description="mine", Local=True))),
])
async def test_local_writes_in_a_secondary_stay_here(method, request_) -> None:
    local = Local()
    assert await secondary().run(method, request_, local)
    assert local.calls == [request_]


async def test_the_primary_runs_global_writes_itself() -> None:
    local = Local()
    forwarder = Forwarder(Consensus(is_leader=True), FakePool(), datacenter="dc1",
                          primary_datacenter="dc1")
    assert await forwarder.run("ConfigEntry.Apply", ConfigEntryRequest(Entry=ENTRY), local)
    assert len(local.calls) == 1
