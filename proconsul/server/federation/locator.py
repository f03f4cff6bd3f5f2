"""The gateway locator: which mesh gateway a server dials to reach another datacenter
(Consul's gateway_locator.go, with the beyond-Consul rotation rules of issue #20).

:class:`GatewayLocator` is the pure core: fed with the federation states, this
datacenter's own gateways and the ``primary_gateways`` fallback, it answers
:meth:`~GatewayLocator.pick` and learns from :meth:`~GatewayLocator.failed`.
:class:`LocatorDriver` keeps it fed: it watches the state store (blocking query on the
federation states and the catalog's gateways).

Only gateways with meta ``consul-wan-federation=1`` and no critical check count.
Remote datacenters' gateways are dialled at their WAN address, our own at their LAN
address.  Which gateway reaches a datacenter:

- the primary (from a secondary): the gateways of the primary's replicated state, and
  only once none of those answers (or it lists none) the ``primary_gateways`` fallback
  too, so that a secondary follows the primary's gateways wherever they move, and the
  gateways that state lists with a critical check (the state came through the
  gateways, so a check that turned passing since may never reach us otherwise);
- any other datacenter (and every one, from the primary): our own gateways, which route
  ``server.<dc>.<domain>`` on to that datacenter's gateways (as Consul does: a server
  needs to reach no gateway but its own beyond the primary's); that datacenter's own
  gateways from its federation state only while we have none.

The choice sticks to one gateway per datacenter until a dial through it fails; a
gateway no state lists any more is forgotten, failures included.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from proconsul.state.node_dump import service_dump
from proconsul.structs.catalog import HEALTH_CRITICAL, CheckServiceNode
from proconsul.structs.federation_state import FederationState
from proconsul.structs.query import QueryMeta, QueryOptions
from proconsul.structs.service_kinds import MESH_GATEWAY, WAN_FEDERATION_META

if TYPE_CHECKING:
    from proconsul.server.server import Server

__all__ = ["GatewayLocator", "LocatorDriver", "dial_address", "primary_gateway_entries"]

log = logging.getLogger("agent.server.gateway_locator")

WAIT_NS = 10 * 60 * 1_000_000_000  # one blocking wait on the state store


def dial_address(row: CheckServiceNode, wan: bool, healthy: bool = True) -> str | None:
    """``host:port`` to dial gateway ``row`` at (its :meth:`~CheckServiceNode.best_address`);
    None when it is not a WAN-federation gateway or a check is critical (with
    ``healthy=False``: None unless a check is critical)."""
    if row.Service is None or row.Node is None:
        return None
    if (row.Service.Meta or {}).get(WAN_FEDERATION_META) != "1":
        return None
    if any(check.Status == HEALTH_CRITICAL for check in row.Checks) == healthy:
        return None
    host, port = row.best_address(wan)
    if not host or not port:
        return None
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _addresses(rows: list[CheckServiceNode], wan: bool, healthy: bool = True
               ) -> tuple[str, ...]:
    return tuple(sorted({a for a in (dial_address(r, wan, healthy) for r in rows) if a}))


@dataclass
class _Choice:
    """The gateway in use for one datacenter and those that failed since listed."""

    current: str | None = None
    failed: set[str] = field(default_factory=set)


class GatewayLocator:
    """Chooses gateways for remote datacenters; no I/O, no clock."""

    def __init__(self, datacenter: str, primary: str, rng: random.Random | None = None) -> None:
        self.datacenter = datacenter
        self.primary = primary or datacenter
        self.rng = rng or random.Random()
        self.local: tuple[str, ...] = ()
        self.remote: dict[str, tuple[str, ...]] = {}
        self.fallback: tuple[str, ...] = ()
        self.critical: tuple[str, ...] = ()  # the primary's, listed with a critical check
        self._choices: dict[str, _Choice] = {}

    @property
    def is_primary(self) -> bool:
        return self.primary == self.datacenter

    def update(self, states: list[FederationState], local: list[CheckServiceNode]) -> bool:
        """Take new federation states and our catalog's gateways; whether anything
        this locator dials changed."""
        remote = {s.Datacenter: _addresses(s.MeshGateways, wan=True) for s in states
                  if s.Datacenter != self.datacenter}
        own = _addresses(local, wan=False)
        critical = next((_addresses(s.MeshGateways, wan=True, healthy=False) for s in states
                         if s.Datacenter == self.primary != self.datacenter), ())
        changed = remote != self.remote or own != self.local or critical != self.critical
        self.remote, self.local, self.critical = remote, own, critical
        if changed:
            log.info("new cached locations of mesh gateways primary=%s local=%s",
                     list(self.remote.get(self.primary, ())), list(self.local))
            self._forget_unlisted()
        return changed

    def set_fallback(self, addresses: list[str]) -> None:
        """The ``primary_gateways`` entries (``host:port``)."""
        fallback = tuple(sorted(set(addresses)))
        if fallback != self.fallback:
            self.fallback = fallback
            log.info("updated fallback list of primary mesh gateways mesh_gateways=%s",
                     list(fallback))
            self._forget_unlisted()

    def candidates(self, datacenter: str) -> tuple[str, ...]:
        """Every gateway that may lead to ``datacenter`` (none for our own)."""
        if datacenter == self.datacenter:
            return ()
        listed = self.remote.get(datacenter, ())
        if datacenter == self.primary:
            # The fallback and the critical ones only while no healthy listed gateway
            # of the primary is untried.
            failed = self._choice(datacenter).failed
            if listed and not set(listed) <= failed:
                return listed
            return tuple(sorted(set(listed) | set(self.fallback) | set(self.critical)))
        return self.local or listed

    def pick(self, datacenter: str) -> str | None:
        """The gateway to dial ``datacenter`` through; None for our own datacenter or
        when none is known."""
        candidates = self.candidates(datacenter)
        if not candidates:
            return None
        choice = self._choice(datacenter)
        if choice.current in candidates and choice.current not in choice.failed:
            return choice.current
        usable = [g for g in candidates if g not in choice.failed]
        if not usable:  # every one failed: start another round over all of them
            choice.failed.clear()
            usable = list(candidates)
        choice.current = self.rng.choice(usable)
        return choice.current

    def chosen(self, datacenter: str) -> str | None:
        """The gateway last picked for ``datacenter`` (for status), None if none."""
        choice = self._choices.get(datacenter)
        return choice.current if choice is not None else None

    def failed(self, datacenter: str, gateway: str) -> None:
        """A dial of ``datacenter`` through ``gateway`` failed: use another one next."""
        choice = self._choice(datacenter)
        choice.failed.add(gateway)
        if choice.current == gateway:
            choice.current = None

    def succeeded(self, datacenter: str, gateway: str) -> None:
        """A dial through ``gateway`` worked."""
        self._choice(datacenter).failed.discard(gateway)

    def _choice(self, datacenter: str) -> _Choice:
        return self._choices.setdefault(datacenter, _Choice())

    def _forget_unlisted(self) -> None:
        for dc, choice in list(self._choices.items()):
            listed = set(self.remote.get(dc, ())) | set(self.local)
            if dc == self.primary:
                listed |= set(self.fallback) | set(self.critical)
            choice.failed &= listed
            if choice.current not in listed:
                choice.current = None


def primary_gateway_entries(entries: list[str]) -> list[str]:
    """The ``primary_gateways`` entries to dial: ``host:port`` as given (a host name is
    looked up at each dial, as Consul does, so a name that moves to new gateways is
    followed).  Cloud auto-join (``provider=...``) is not supported here, as in
    ``retry_join``; such entries, and entries without a port, are logged and left out."""
    found: list[str] = []
    for entry in entries:
        if "provider=" in entry:
            log.error("primary_gateways entry %r: cloud auto-join is not supported", entry)
            continue
        host, sep, port = entry.rpartition(":")
        if not sep or not host or not port.isdigit() or (":" in host and
                                                         not host.startswith("[")):
            log.error("primary_gateways entry %r is not host:port", entry)
            continue
        found.append(entry)
    return sorted(set(found))


class LocatorDriver:
    """Keeps a :class:`GatewayLocator` current: :meth:`watch` (a routine on every wanfed
    server) follows the federation states and our catalog's gateways."""

    def __init__(self, server: Server, locator: GatewayLocator) -> None:
        self.server = server
        self.locator = locator

    async def watch(self) -> None:
        index = 0
        while True:
            index = await self.refresh(index)

    async def refresh(self, index: int) -> int:
        """Wait for the states or our gateways to pass ``index``; feed the locator."""
        found: list = []

        def query(ws) -> int:
            state_index, states = self.server.store.federation_state_list(ws)
            dump_index, local, _ = service_dump(self.server.store, ws, MESH_GATEWAY)
            found[:] = [states, local]
            return max(state_index, dump_index)

        meta = QueryMeta()
        await self.server.blocking_query(
            QueryOptions(MinQueryIndex=index, MaxQueryTime=WAIT_NS, AllowStale=True), meta,
            query)
        self.locator.update(*found)
        return meta.Index
