"""The servers of every datacenter in the WAN pool (Consul's router for the WAN area).

A sans-IO core: it is fed WAN member states, call failures, probe results
and coordinates, and answers which server of a datacenter to call next,
which datacenters exist, and their order by estimated round-trip time.

Per datacenter it keeps the alive servers (``role=consul`` members with a
``dc`` and a ``port`` tag) in the order calls try them, like the LAN router:
new servers land at a random place, a failed call moves its server to the
end, and a shuffle spreads servers' load.  Servers that gossip shows failed
or left are dropped from the order; a datacenter stays *known* while any of
its servers is still a member (alive or failed), so "no server reachable"
and "no path to datacenter" are told apart as Consul does.  A server whose
call timed out or could not be dialled is *unreachable* until a probe
answers or gossip sees it alive again, so later requests fail fast instead
of waiting on a cut link each time.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass

from proconsul.gossip.serf_wire import Coordinate as GossipCoordinate
from proconsul.gossip.vivaldi import distance
from proconsul.server.reconcile import MemberState
from proconsul.structs.coordinate import Coordinate

__all__ = ["RemoteServer", "WANRouter", "coordinate_distance", "split_wan_name"]


def split_wan_name(name: str) -> tuple[str, str]:
    """``node.dc`` → ``(node, dc)`` (the node part may itself hold dots)."""
    node, _, dc = name.rpartition(".")
    return node, dc


def coordinate_distance(a: Coordinate | None, b: Coordinate | None) -> float:
    """Estimated RTT in seconds; infinite when either coordinate is missing."""
    if a is None or b is None or len(a.Vec) != len(b.Vec):
        return math.inf
    return distance(_gossip(a), _gossip(b))


def _gossip(c: Coordinate) -> GossipCoordinate:
    return GossipCoordinate(vec=list(c.Vec), error=c.Error, adjustment=c.Adjustment,
                            height=c.Height)


@dataclass(frozen=True)
class RemoteServer:
    """One server as the WAN pool shows it."""

    name: str  # the WAN member name, ``node.dc``
    node: str
    datacenter: str
    address: str  # ``host:port`` of its RPC port
    status: str  # "alive", "failed" or "left"


def remote_server(member: MemberState) -> RemoteServer | None:
    """The server ``member`` describes, or None when it is not a Consul server."""
    tags = member.tags
    if tags.get("role") != "consul" or not tags.get("dc") or not tags.get("port"):
        return None
    node, _ = split_wan_name(member.name)
    host = member.addr if ":" not in member.addr else f"[{member.addr}]"
    return RemoteServer(member.name, node or member.name, tags["dc"],
                        f"{host}:{tags['port']}", member.status)


class WANRouter:
    """Routes to the servers of each datacenter; ``local_dc`` is this server's own."""

    def __init__(self, local_dc: str, rng: random.Random | None = None) -> None:
        self.local_dc = local_dc
        self._rng = rng or random.Random()
        self._members: dict[str, dict[str, RemoteServer]] = {}  # dc -> name -> server
        self._order: dict[str, list[str]] = {}  # dc -> alive server addresses, call order
        self._unreachable: dict[str, str] = {}  # address -> dc

    # ---- membership ---------------------------------------------------------

    def update(self, members: Iterable[MemberState]) -> None:
        """Follow the WAN pool: servers that left are forgotten, failed ones leave the
        call order, new alive ones join it at random places."""
        known: dict[str, dict[str, RemoteServer]] = {}
        for member in members:
            server = remote_server(member)
            if server is not None and server.status in ("alive", "failed"):
                known.setdefault(server.datacenter, {})[server.name] = server
        self._members = known
        for dc in set(self._order) - set(known):
            del self._order[dc]
        for dc, servers in known.items():
            alive = {s.address for s in servers.values() if s.status == "alive"}
            order = [a for a in self._order.get(dc, []) if a in alive]
            for address in sorted(alive - set(order)):
                order.insert(self._rng.randint(0, len(order)), address)
                self._unreachable.pop(address, None)  # seen alive again: try it
            self._order[dc] = order
        live = {a for order in self._order.values() for a in order}
        self._unreachable = {a: dc for a, dc in self._unreachable.items() if a in live}

    def alive_again(self, address: str) -> None:
        """Gossip saw the server at ``address`` rejoin or answer: it may be called."""
        self._unreachable.pop(address, None)

    # ---- routing ------------------------------------------------------------

    def datacenters(self) -> list[str]:
        """Every known datacenter (the local one always), sorted by name."""
        return sorted(set(self._members) | {self.local_dc})

    def known(self, dc: str) -> bool:
        return dc in self._members

    def servers(self, dc: str) -> list[RemoteServer]:
        """All members (alive and failed) of ``dc``, by name."""
        return sorted(self._members.get(dc, {}).values(), key=lambda s: s.name)

    def order(self, dc: str) -> list[str]:
        """The alive servers of ``dc`` in the order calls try them."""
        return list(self._order.get(dc, []))

    def candidates(self, dc: str) -> list[str]:
        """The servers a call to ``dc`` may try now, in order (reachable ones only)."""
        return [a for a in self._order.get(dc, []) if a not in self._unreachable]

    def find(self, dc: str) -> str | None:
        candidates = self.candidates(dc)
        return candidates[0] if candidates else None

    def notify_failed(self, dc: str, address: str) -> None:
        """A call to ``address`` failed: try the others of ``dc`` first from now on."""
        order = self._order.get(dc)
        if order and len(order) > 1 and order[0] == address:
            order.append(order.pop(0))

    def mark_unreachable(self, dc: str, address: str) -> None:
        """``address`` could not be dialled or did not answer in time: skip it until a
        probe answers or gossip sees it alive again."""
        if address in self._order.get(dc, []):
            self._unreachable[address] = dc
            self.notify_failed(dc, address)

    def unreachable(self) -> list[tuple[str, str]]:
        """``(dc, address)`` of the servers to probe."""
        return sorted((dc, a) for a, dc in self._unreachable.items())

    def is_unreachable(self, address: str) -> bool:
        return address in self._unreachable

    def shuffle(self, dc: str) -> None:
        """Spread load: a new random order for ``dc`` (a single server stays put)."""
        order = self._order.get(dc)
        if order and len(order) > 1:
            self._rng.shuffle(order)

    # ---- distance -----------------------------------------------------------

    def rtt_by_datacenter(self, own: Coordinate | None,
                          coordinates: dict[str, Coordinate]) -> dict[str, float]:
        """Median estimated RTT (s) from ``own`` to each datacenter's servers; the local
        datacenter is 0 and a server without a coordinate counts as infinitely far."""
        rtts: dict[str, float] = {self.local_dc: 0.0}
        for dc, servers in self._members.items():
            if dc == self.local_dc:
                continue
            values = sorted(coordinate_distance(own, coordinates.get(s.name))
                            for s in servers.values())
            rtts[dc] = values[len(values) // 2]
        return rtts

    def datacenters_by_distance(self, own: Coordinate | None,
                                coordinates: dict[str, Coordinate]) -> list[str]:
        """Datacenters nearest first; ties (and unknown distances) by name."""
        rtts = self.rtt_by_datacenter(own, coordinates)
        return sorted(sorted(rtts), key=lambda dc: rtts[dc])
