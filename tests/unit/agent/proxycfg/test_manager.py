"""proxycfg: one shared watch per datum, and a change reaches only the proxies it touches."""

from __future__ import annotations

import asyncio
import collections

from proconsul.agent.proxycfg.manager import ENDPOINTS, Manager, Registration
from proconsul.structs.catalog import ConnectProxyConfig, NodeService, Upstream
from proconsul.structs.discovery_chain import CompiledDiscoveryChain, DiscoveryTarget


class FakeSources:
    """Values by key; a fetch with the current index blocks until the value changes."""

    def __init__(self) -> None:
        self.values: dict[tuple, tuple[object, int]] = {}
        self.changed = asyncio.Event()
        self.calls: collections.Counter = collections.Counter()

    def set(self, key: tuple, value: object) -> None:
        _, index = self.values.get(key, (None, 0))
        self.values[key] = (value, index + 1)
        self.changed.set()
        self.changed = asyncio.Event()

    async def _get(self, key: tuple, index: int):
        self.calls[key] += 1
        while key not in self.values or self.values[key][1] == index:
            await self.changed.wait()
        return self.values[key]

    async def roots(self, token, index):
        return await self._get(("roots",), index)

    async def leaf_cert(self, service, token, index):
        return await self._get(("leaf", service), index)

    async def intentions(self, token, index):
        return await self._get(("intentions",), index)

    async def mesh(self, token, index):
        return await self._get(("mesh",), index)

    async def proxy_defaults(self, token, index):
        return await self._get(("proxy-defaults",), index)

    async def chain(self, name, dc, token, index):
        return await self._get(("chain", name), index)

    async def health(self, service, dc, token, index):
        return await self._get(("health", service), index)

    async def service_defaults(self, name, token, index):
        return await self._get(("service-defaults", name), index)

    async def typical_services(self, token, index):
        return await self._get(("typical-services",), index)


def chain(name: str) -> CompiledDiscoveryChain:
    tid = f"{name}.default.default.dc1"
    return CompiledDiscoveryChain(ServiceName=name, Datacenter="dc1", Protocol="tcp",
                                  Targets={tid: DiscoveryTarget(ID=tid, Service=name,
                                                                Datacenter="dc1")})


def proxy(pid: str, dest: str, upstream: str) -> NodeService:
    return NodeService(ID=pid, Service=f"{dest}-sidecar-proxy", Kind="connect-proxy",
                       Proxy=ConnectProxyConfig(DestinationServiceName=dest, Upstreams=[
                           Upstream(DestinationName=upstream)]))


async def test_watches_are_shared_and_changes_go_only_where_needed():
    sources = FakeSources()
    regs = {f"web{i}": Registration(proxy(f"web{i}", "web", "api"), "") for i in range(3)}
    regs["cli"] = Registration(proxy("cli", "cli", "db"), "")
    manager = Manager(sources, regs.get, "dc1", "127.0.0.1", default_allow=True)
    for key, value in [(("roots",), object()), (("intentions",), []), (("proxy-defaults",), None),
                       (("mesh",), None), (("service-defaults", "web"), None),
                       (("service-defaults", "cli"), None),
                       (("leaf", "web"), object()), (("leaf", "cli"), object()),
                       (("chain", "web"), chain("web")), (("chain", "cli"), chain("cli")),
                       (("chain", "api"), chain("api")), (("chain", "db"), chain("db")),
                       (("health", "api"), []), (("health", "db"), [])]:
        sources.set(key, value)
    watched = {pid: manager.watch(pid) for pid in regs}
    async with asyncio.timeout(5):
        while not all(state.ready for state, _ in watched.values()) or \
                ("health", "db", "dc1", "") not in manager.watches.datums:
            await asyncio.sleep(0.01)
    health_keys = sorted(k for k in manager.watches.datums if k[0] == "health")
    assert health_keys == [("health", "api", "dc1", ""), ("health", "db", "dc1", "")]
    assert len(manager.watches.datums[("health", "api", "dc1", "")].subscribers) == 3
    for _, watcher in watched.values():
        watcher.take()
    sources.set(("health", "api"), ["one more instance"])
    async with asyncio.timeout(5):
        await watched["web0"][1].event.wait()
    for pid in ("web0", "web1", "web2"):
        assert watched[pid][1].dirty == {ENDPOINTS}
    assert watched["cli"][1].dirty == set()
    datum = manager.watches.datums[("health", "api", "dc1", "")]
    built = [datum.derive("cla", lambda v: object()) for _ in range(3)]
    assert built[0] is built[1] is built[2]  # derived once per value, not per proxy
    for state, watcher in watched.values():
        manager.release(state, watcher)
    assert manager.watches.datums == {}
    await manager.stop()


class MeshSources(FakeSources):
    async def mesh_gateways(self, token, index):
        return await self._get(("mesh-gateways",), index)

    async def services(self, token, index):
        return await self._get(("services",), index)

    async def resolvers(self, token, index):
        return await self._get(("resolvers",), index)

    async def service_health(self, service, dc, token, index):
        return await self._get(("service-health", service), index)


async def test_a_mesh_gateway_watches_each_local_service_and_replans_on_new_ones():
    sources = MeshSources()
    gateway = NodeService(ID="mgw", Service="mesh-gateway", Kind="mesh-gateway",
                          Meta={"consul-wan-federation": "1"})
    manager = Manager(sources, {"mgw": Registration(gateway, "")}.get, "dc1", "127.0.0.1",
                      default_allow=True, domain="consul.")
    for key, value in [(("roots",), object()), (("mesh-gateways",), {}),
                       (("services",), {"api": [], "consul": []}), (("resolvers",), []),
                       (("health", "api"), []), (("service-health", "consul"), [])]:
        sources.set(key, value)
    state, watcher = manager.watch("mgw")
    async with asyncio.timeout(5):
        while not state.ready:
            await asyncio.sleep(0.01)
    assert state.snapshot.domain == "consul"
    assert [s.name for s in state.snapshot.services] == ["api"]
    sources.set(("services",), {"api": [], "db": [], "consul": []})
    sources.set(("health", "db"), [])
    async with asyncio.timeout(5):
        while [s.name for s in state.snapshot.services] != ["api", "db"]:
            await asyncio.sleep(0.01)
    assert ("health", "consul", "dc1", "") not in manager.watches.datums
    manager.release(state, watcher)
    await manager.stop()


def intention(destination: str, source: str, action: str) -> dict:
    return {"Kind": "service-intentions", "Name": destination,
            "Sources": [{"Name": source, "Action": action}]}


async def test_a_transparent_proxy_watches_what_intentions_let_it_reach():
    sources = FakeSources()
    web = NodeService(ID="web-proxy", Service="web-sidecar-proxy", Kind="connect-proxy",
                      Proxy=ConnectProxyConfig(DestinationServiceName="web", Upstreams=[
                          Upstream(DestinationName="db", LocalBindPort=9000)]))
    manager = Manager(sources, {"web-proxy": Registration(web, "")}.get, "dc1", "127.0.0.1",
                      default_allow=True)
    for key, value in [(("roots",), object()), (("proxy-defaults",), None), (("mesh",), None),
                       (("intentions",), [intention("cache", "web", "deny")]),
                       (("service-defaults", "web"), None), (("leaf", "web"), object()),
                       (("typical-services",), {"web": [], "api": [], "db": [], "cache": [],
                                                "consul": []})] + [
            (("chain", name), chain(name)) for name in ("web", "api", "db", "cache")] + [
            (("health", name), []) for name in ("api", "db", "cache")]:
        sources.set(key, value)
    state, watcher = manager.watch("web-proxy")
    async with asyncio.timeout(5):
        while not state.ready:
            await asyncio.sleep(0.01)
    assert state.snapshot.mode == "" and state.snapshot.intention_upstreams == []
    assert ("typical-services", "") not in manager.watches.datums
    # service-defaults turns transparent mode on: every allowed service but the explicit
    # upstream (db), web itself, consul and the denied cache becomes an upstream
    sources.set(("service-defaults", "web"), {"Mode": "transparent",
                                              "TransparentProxy": {"OutboundListenerPort": 15009}})
    async with asyncio.timeout(5):
        while not (state.ready and state.snapshot.intention_upstreams):
            await asyncio.sleep(0.01)
    snap = state.snapshot
    assert snap.transparent and snap.outbound_port == 15009
    assert [u.id for u in snap.intention_upstreams] == ["api"]
    assert ("health", "api", "dc1", "") in manager.watches.datums
    assert ("health", "cache", "dc1", "") not in manager.watches.datums
    # new instances may bring new virtual IPs: the outbound listener is rebuilt too
    watcher.take()
    sources.set(("health", "api"), ["an instance"])
    async with asyncio.timeout(5):
        await watcher.event.wait()
    assert watcher.dirty == {"endpoints", "listeners"}
    # an allow intention for cache adds it (and its watches); a deny for api drops it
    watcher.take()
    sources.set(("intentions",), [intention("cache", "web", "allow"),
                                  intention("api", "web", "deny")])
    async with asyncio.timeout(5):
        while [u.id for u in state.snapshot.intention_upstreams] != ["cache"] or \
                not state.ready:
            await asyncio.sleep(0.01)
    assert watcher.dirty == {"clusters", "endpoints", "listeners", "routes"}
    assert ("health", "cache", "dc1", "") in manager.watches.datums
    assert ("health", "api", "dc1", "") not in manager.watches.datums
    # a service new to the catalog is reachable by the default allow
    sources.set(("chain", "queue"), chain("queue"))
    sources.set(("health", "queue"), [])
    sources.set(("typical-services",), {"web": [], "api": [], "db": [], "cache": [],
                                        "queue": []})
    async with asyncio.timeout(5):
        while [u.id for u in state.snapshot.intention_upstreams] != ["cache", "queue"] or \
                not state.ready:
            await asyncio.sleep(0.01)
    manager.release(state, watcher)
    assert manager.watches.datums == {}
    await manager.stop()
