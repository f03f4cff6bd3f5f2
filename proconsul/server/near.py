"""``?near``: sort read results by estimated round-trip time from a source node."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeVar

from proconsul.structs.coordinate import Coordinate
from proconsul.structs.requests import QuerySource

T = TypeVar("T")


def _distance(a: Coordinate, b: Coordinate) -> float:
    raw = math.dist(a.Vec, b.Vec) + a.Height + b.Height
    adjusted = raw + a.Adjustment + b.Adjustment
    return adjusted if adjusted > 0 else raw


def sort_near(store, source: QuerySource | None, datacenter: str, items: list[T],
              node_of: Callable[[T], str]) -> list[T]:
    """Nearest first, as Consul's sortNodesByDistanceFrom: unchanged when the source is
    unset, in another datacenter or has no coordinate; nodes without one go last."""
    if source is None or not source.Node or source.Datacenter not in ("", datacenter):
        return items
    origin = _coordinate(store, source.Node)
    if origin is None:
        return items

    def rtt(item: T) -> float:
        coord = _coordinate(store, node_of(item))
        return math.inf if coord is None else _distance(origin, coord)

    return sorted(items, key=rtt)


def _coordinate(store, node: str) -> Coordinate | None:
    _, entries = store.node_coordinates(None, node)
    for entry in entries:
        if entry.Segment == "" and entry.Coord is not None:
            return entry.Coord
    return None
