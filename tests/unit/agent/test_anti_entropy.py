"""Anti-entropy against a fake catalog: random interleavings of local changes with slow,
failed and half-failed RPCs must still leave the catalog equal to the local state."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import pytest
from hypothesis import HealthCheck as Health
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec.structs import replace

from proconsul.agent.local.state import LocalState
from proconsul.agent.local.sync import AntiEntropy, EntriesNotSynced, NodeInfo
from proconsul.structs.catalog import (
    DeregisterRequest,
    HealthCheck,
    Node,
    NodeService,
    NodeServices,
    RegisterRequest,
    ServiceAddress,
    ServiceConnect,
)
from proconsul.structs.errors import ConsulError
from proconsul.structs.requests import IndexedHealthChecks, IndexedNodeServices

NODE = NodeInfo("0b9e4f8c-0000-4000-8000-000000000001", "n1", "10.0.0.1", "dc1", {})


class FakeCatalog:
    """The one node's catalog entries, behind the ``rpc(method, request)`` sync uses.

    Calls wait in ``pending`` until the test delivers, fails or half-fails them
    (applied, but the reply is lost); with ``auto`` they are answered at once.
    """

    def __init__(self) -> None:
        self.node: Node | None = None
        self.services: dict[str, NodeService] = {}
        self.checks: dict[str, HealthCheck] = {}
        self.pending: deque[tuple[str, Any, asyncio.Future]] = deque()
        self.auto = False

    async def rpc(self, method: str, request: Any) -> Any:
        if self.auto:
            await asyncio.sleep(0)
            return self.apply(method, request)
        future = asyncio.get_running_loop().create_future()
        self.pending.append((method, request, future))
        return await future

    def settle(self, how: str) -> None:
        method, request, future = self.pending.popleft()
        if how == "deliver":
            try:
                future.set_result(self.apply(method, request))
            except ConsulError as err:
                future.set_exception(err)
        elif how == "lost_reply":
            try:
                self.apply(method, request)
            except ConsulError:
                pass
            future.set_exception(ConsulError("rpc error: connection reset"))
        elif how == "fail":
            future.set_exception(ConsulError("rpc error: no leader"))
        else:  # a bug on the way (an encoding error, say): not a server error
            future.set_exception(OverflowError("int too big to convert"))

    def apply(self, method: str, request: Any) -> Any:
        if method == "Catalog.NodeServices":
            found = None if self.node is None else NodeServices(
                Node=self.node, Services=dict(self.services))
            return IndexedNodeServices(NodeServices=found)
        if method == "Health.NodeChecks":
            return IndexedHealthChecks(HealthChecks=list(self.checks.values()))
        if method == "Catalog.Register":
            return self._register(request)
        if method == "Catalog.Deregister":
            return self._deregister(request)
        raise AssertionError(f"unexpected RPC {method}")

    def _register(self, req: RegisterRequest) -> bool:
        if not req.SkipNodeUpdate or self.node is None:
            self.node = Node(ID=req.ID, Node=req.Node, Address=req.Address,
                             Datacenter=req.Datacenter, TaggedAddresses=req.TaggedAddresses,
                             Meta=req.NodeMeta)
        if req.Service is not None:
            self.services[req.Service.ID] = req.Service
        for check in ([req.Check] if req.Check else []) + list(req.Checks or ()):
            if check.ServiceID and check.ServiceID not in self.services:
                raise ConsulError(f"Unknown service ID '{check.ServiceID}' for check ID "
                                  f"'{check.CheckID}'")
            self.checks[check.CheckID] = check
        return True

    def _deregister(self, req: DeregisterRequest) -> bool:
        if req.ServiceID:
            self.services.pop(req.ServiceID, None)
            for cid in [c for c, check in self.checks.items()
                        if check.ServiceID == req.ServiceID]:
                del self.checks[cid]
        if req.CheckID:
            self.checks.pop(req.CheckID, None)
        return True


SERVICES = st.integers(0, 3)
CHECKS = st.integers(0, 4)
STATUS = st.sampled_from(["passing", "warning", "critical"])
OPS = st.one_of(
    st.tuples(st.just("add_service"), SERVICES, st.integers(0, 2)),
    st.tuples(st.just("remove_service"), SERVICES),
    st.tuples(st.just("add_check"), CHECKS, st.one_of(st.none(), SERVICES), STATUS),
    st.tuples(st.just("update_check"), CHECKS, STATUS, st.integers(0, 2)),
    st.tuples(st.just("remove_check"), CHECKS),
    st.tuples(st.just("sync"), st.booleans()),
    st.tuples(st.sampled_from(["deliver", "deliver", "fail", "lost_reply", "crash"])),
)


async def _settle_tasks() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def _apply_local(state: LocalState, op: tuple) -> None:
    kind = op[0]
    if kind == "add_service":
        _, i, version = op
        state.add_service(NodeService(ID=f"s{i}", Service=f"web{i}", Tags=[f"v{version}"],
                                      Port=8000 + version))
    elif kind == "remove_service":
        state.remove_service(f"s{op[1]}")
    elif kind == "add_check":
        _, j, service, status = op
        service_id = f"s{service}" if service is not None and state.service(f"s{service}") \
            else ""
        state.add_check(HealthCheck(CheckID=f"c{j}", Name=f"check {j}", Status=status,
                                    ServiceID=service_id))
    elif kind == "update_check":
        _, j, status, output = op
        state.update_check(f"c{j}", status, f"output {output}")
    elif kind == "remove_check":
        state.remove_check(f"c{op[1]}")


async def _scenario(ops: list[tuple]) -> tuple[FakeCatalog, LocalState]:
    catalog = FakeCatalog()
    state = LocalState(NODE.name, check_update_interval=0)
    sync = AntiEntropy(state, NODE, catalog.rpc)
    task: asyncio.Task | None = None
    for op in ops:
        if op[0] == "sync":
            if task is None or task.done():
                task = asyncio.create_task(sync.sync_full() if op[1] else sync.sync_changes())
        elif op[0] in ("deliver", "fail", "lost_reply", "crash"):
            if catalog.pending:
                catalog.settle(op[0])
        else:
            _apply_local(state, op)
        await _settle_tasks()
    while task is not None and not task.done():  # the sync under way ends normally
        while catalog.pending:
            catalog.settle("deliver")
        await _settle_tasks()
    catalog.auto = True
    # The last sync: changes only, so a change wrongly marked synced is never re-found
    # by a full comparison.
    await sync.sync_changes()
    return catalog, state


@settings(max_examples=400, deadline=None, suppress_health_check=[Health.too_slow])
@given(st.lists(OPS, max_size=40))
def test_catalog_converges_to_local_state(ops):
    catalog, state = asyncio.run(_scenario(ops))
    assert catalog.node is not None
    assert catalog.services == state.live_services()
    assert catalog.checks == state.live_checks()
    assert all(s.in_sync for s in state.services.values())
    assert all(c.in_sync for c in state.checks.values())


def test_update_during_register_is_sent_again():
    """The reported race: a TTL check passed while its service's Register is in flight."""

    async def scenario() -> tuple[FakeCatalog, LocalState]:
        catalog = FakeCatalog()
        state = LocalState(NODE.name)
        sync = AntiEntropy(state, NODE, catalog.rpc)
        state.add_service(NodeService(ID="web", Service="web"))
        state.add_check(HealthCheck(CheckID="service:web", Status="critical", ServiceID="web"))
        task = asyncio.create_task(sync.sync_changes())
        await _settle_tasks()
        catalog.settle("deliver")  # the node
        await _settle_tasks()
        assert catalog.pending[0][1].Checks[0].Status == "critical"
        state.update_check("service:web", "passing", "")
        catalog.settle("deliver")
        await _settle_tasks()
        catalog.auto = True
        while catalog.pending:
            catalog.settle("deliver")
        await task
        await sync.sync_changes()
        return catalog, state

    catalog, _ = asyncio.run(scenario())
    assert catalog.checks["service:web"].Status == "passing"


def test_a_failing_entry_does_not_stop_the_others():
    async def scenario() -> FakeCatalog:
        catalog = FakeCatalog()
        catalog.auto = True
        state = LocalState(NODE.name)
        sync = AntiEntropy(state, NODE, catalog.rpc)
        original = catalog.apply

        def apply(method: str, request: Any) -> Any:
            if getattr(request, "Service", None) is not None and request.Service.ID == "bad":
                raise OverflowError("int too big to convert")
            return original(method, request)

        catalog.apply = apply
        state.add_service(NodeService(ID="bad", Service="bad"))
        state.add_service(NodeService(ID="good", Service="good"))
        with pytest.raises(EntriesNotSynced, match="cannot sync service 'bad'"):
            await sync.sync_changes()
        return catalog

    assert list(asyncio.run(scenario()).services) == ["good"]


def test_settle_waits_for_the_change_to_reach_the_catalog_unless_syncs_fail():
    async def scenario() -> None:
        catalog = FakeCatalog()
        state = LocalState(NODE.name)
        sync = AntiEntropy(state, NODE, catalog.rpc)
        runner = asyncio.create_task(sync.run())
        await _settle_tasks()
        catalog.settle("deliver")  # the first full sync: services, checks, node
        await _settle_tasks()
        catalog.settle("deliver")
        await _settle_tasks()
        catalog.settle("deliver")
        await _settle_tasks()
        assert state.all_in_sync()
        catalog.auto = True
        state.add_service(NodeService(ID="web", Service="web"))
        assert await sync.settle(1.0)
        assert "web" in catalog.services
        catalog.auto = False
        state.add_service(NodeService(ID="api", Service="api"))
        waiting = asyncio.create_task(sync.settle(1.0))
        await _settle_tasks()
        catalog.settle("fail")
        assert await waiting is False  # no servers: the API call does not hang on it
        assert sync.failing
        runner.cancel()

    asyncio.run(scenario())


def test_servers_virtual_ip_keeps_the_service_in_sync():
    """The servers add ``consul-virtual`` to a Connect instance; the agent takes it onto
    its own copy (as Consul's does) instead of registering the service again each sync."""

    async def scenario() -> tuple[FakeCatalog, LocalState, list[str]]:
        catalog = FakeCatalog()
        catalog.auto = True
        state = LocalState(NODE.name)
        sync = AntiEntropy(state, NODE, catalog.rpc)
        state.add_service(NodeService(ID="web", Service="web", Connect=ServiceConnect(
            Native=True), TaggedAddresses={"lan": ServiceAddress(Address="10.0.0.1")}))
        await sync.sync_full()
        vip = ServiceAddress(Address="240.0.0.1")
        catalog.services["web"] = replace(catalog.services["web"], TaggedAddresses={
            **catalog.services["web"].TaggedAddresses, "consul-virtual": vip})
        sent: list[str] = []
        rpc = catalog.rpc

        async def counting(method: str, request: Any) -> Any:
            sent.append(method)
            return await rpc(method, request)

        catalog.rpc = counting  # type: ignore[method-assign]
        sync = AntiEntropy(state, NODE, catalog.rpc)
        await sync.sync_full()
        return catalog, state, sent

    _catalog, state, sent = asyncio.run(scenario())
    assert "Catalog.Register" not in sent
    tagged = state.services["web"].service.TaggedAddresses
    assert set(tagged) == {"lan", "consul-virtual"}
