"""What a prepared query keeps of a service's instances, and in which order.

Pure functions over catalog rows: the health, tag and metadata filters of a
``ServiceQuery``, the RTT sort from a source node's Vivaldi coordinate, and
the choice of datacenters and peers to fail over to.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable

from proconsul.structs.catalog import HEALTH_CRITICAL, HEALTH_PASSING, CheckServiceNode
from proconsul.structs.coordinate import Coordinate, CoordinateEntry
from proconsul.structs.prepared_query import QueryTarget, ServiceQuery


def healthy(nodes: list[CheckServiceNode], only_passing: bool,
            ignore_check_ids: Iterable[str] | None) -> list[CheckServiceNode]:
    """Instances with no critical check (and with ``only_passing``, no warning either);
    checks named in ``ignore_check_ids`` do not count."""
    ignored = set(ignore_check_ids or ())

    def ok(node: CheckServiceNode) -> bool:
        for check in node.Checks:
            if check.CheckID in ignored:
                continue
            if check.Status == HEALTH_CRITICAL or (only_passing and check.Status != HEALTH_PASSING):
                return False
        return True

    return [node for node in nodes if ok(node)]


def tags_allow(tags: list[str] | None, wanted: Iterable[str]) -> bool:
    """Every wanted tag present and no ``!tag`` present, case-insensitively."""
    have = {tag.lower() for tag in tags or ()}
    for tag in wanted:
        tag = tag.lower()
        if tag.startswith("!"):
            if tag[1:] in have:
                return False
        elif tag not in have:
            return False
    return True


def meta_allows(meta: dict[str, str] | None, wanted: dict[str, str]) -> bool:
    meta = meta or {}
    return all(key in meta and meta[key] == value for key, value in wanted.items())


def select(service: ServiceQuery, nodes: list[CheckServiceNode]) -> list[CheckServiceNode]:
    """The instances ``service`` keeps, in the order given."""
    nodes = healthy(nodes, service.OnlyPassing, service.IgnoreCheckIDs)
    if service.NodeMeta:
        nodes = [n for n in nodes if meta_allows(n.Node.Meta, service.NodeMeta)]
    if service.ServiceMeta:
        nodes = [n for n in nodes if meta_allows(n.Service.Meta, service.ServiceMeta)]
    if service.Tags:
        nodes = [n for n in nodes if tags_allow(n.Service.Tags, service.Tags)]
    return nodes


def rtt(a: Coordinate, b: Coordinate) -> float:
    """Estimated round trip in seconds between two coordinates (Vivaldi, as serf's)."""
    if len(a.Vec) != len(b.Vec):
        return math.inf
    dist = math.dist(a.Vec, b.Vec) + a.Height + b.Height
    adjusted = dist + a.Adjustment + b.Adjustment
    return adjusted if adjusted > 0.0 else dist


def _coordinate(entries: list[CoordinateEntry], segment: str) -> Coordinate | None:
    for entry in entries:
        if entry.Segment == segment and entry.Coord is not None:
            return entry.Coord
    for entry in entries:
        if entry.Coord is not None:
            return entry.Coord
    return None


def sort_by_rtt(nodes: list[CheckServiceNode], source: list[CoordinateEntry], segment: str,
                coordinates_of) -> list[CheckServiceNode]:
    """``nodes`` nearest first from the ``source`` node's coordinate (unchanged when it
    has none); nodes without a coordinate go last. ``coordinates_of(node)`` gives a
    node's coordinate entries."""
    origin = _coordinate(source, segment)
    if origin is None:
        return nodes

    def distance(node: CheckServiceNode) -> float:
        coord = _coordinate(coordinates_of(node.Node.Node), segment)
        return rtt(origin, coord) if coord is not None else math.inf

    return sorted(nodes, key=distance)


def near_first(nodes: list[CheckServiceNode], node_name: str, depth: int = 10
               ) -> list[CheckServiceNode]:
    """Swap the source node's own instance to the front if it is within ``depth``."""
    nodes = list(nodes)
    for i, node in enumerate(nodes[:depth]):
        if node.Node.Node == node_name:
            nodes[0], nodes[i] = nodes[i], nodes[0]
            break
    return nodes


def shuffled(nodes: list[CheckServiceNode], rng: random.Random | None = None
             ) -> list[CheckServiceNode]:
    nodes = list(nodes)
    (rng or random).shuffle(nodes)
    return nodes


def failover_targets(service: ServiceQuery, nearest: list[str]) -> list[QueryTarget]:
    """Where to fail over, in order: the ``NearestN`` closest of ``nearest``, then the
    listed ``Datacenters`` (or ``Targets``): a datacenter once and only if known, every
    cluster peer named (its imported rows are read here, in this datacenter)."""
    known = set(nearest)
    failover = service.Failover
    chosen = [QueryTarget(Datacenter=dc) for dc in nearest[:max(failover.NearestN, 0)]]
    seen = {t.Datacenter for t in chosen}
    listed = ([QueryTarget(Datacenter=dc) for dc in failover.Datacenters]
              if failover.Datacenters else failover.Targets or ())
    for target in listed:
        if target.Datacenter in known and target.Datacenter not in seen:
            chosen.append(QueryTarget(Datacenter=target.Datacenter))
            seen.add(target.Datacenter)
        if target.Peer:
            chosen.append(QueryTarget(Peer=target.Peer))
    return chosen
