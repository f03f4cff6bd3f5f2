"""Vivaldi network coordinates as in serf's ``coordinate`` package (8 dimensions, height, adjustment)."""

from __future__ import annotations

import math
import random
from collections import deque

from proconsul.gossip.serf_wire import Coordinate

__all__ = ["CoordinateClient", "distance"]

DIMENSIONALITY = 8
ERROR_MAX = 1.5
CE = 0.25
CC = 0.25
ADJUSTMENT_WINDOW = 20
HEIGHT_MIN = 10e-6
LATENCY_FILTER_SIZE = 3
GRAVITY_RHO = 150.0
ZERO_THRESHOLD = 1e-6
MAX_RTT = 10.0


def _magnitude(vec: list[float]) -> float:
    return math.sqrt(sum(v * v for v in vec))


def _raw_distance(a: Coordinate, b: Coordinate) -> float:
    return _magnitude([x - y for x, y in zip(a.vec, b.vec, strict=True)]) + a.height + b.height


def distance(a: Coordinate, b: Coordinate) -> float:
    """Estimated RTT in seconds between two coordinates."""
    dist = _raw_distance(a, b)
    adjusted = dist + a.adjustment + b.adjustment
    return adjusted if adjusted > 0.0 else dist


def _unit_vector_at(a: list[float], b: list[float], rng: random.Random) -> tuple[list[float], float]:
    diff = [x - y for x, y in zip(a, b, strict=True)]
    mag = _magnitude(diff)
    if mag > ZERO_THRESHOLD:
        return [d / mag for d in diff], mag
    for _ in range(5):
        rand = [rng.random() - 0.5 for _ in a]
        rmag = _magnitude(rand)
        if rmag > ZERO_THRESHOLD:
            return [r / rmag for r in rand], 0.0
    return [0.0] * len(a), 0.0


def _valid(c: Coordinate) -> bool:
    values = [*c.vec, c.error, c.adjustment, c.height]
    return all(math.isfinite(v) for v in values)


class CoordinateClient:
    """Our own coordinate, refined from RTT samples against peers' coordinates."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random(0)
        self.coordinate = Coordinate()
        self._origin = Coordinate(error=ERROR_MAX, height=HEIGHT_MIN)
        self._samples: dict[str, deque[float]] = {}
        self._adjustments: list[float] = [0.0] * ADJUSTMENT_WINDOW
        self._adjustment_index = 0
        self.resets = 0  # times the coordinate went invalid and started over (serf's stat)

    def forget(self, node: str) -> None:
        self._samples.pop(node, None)

    def update(self, node: str, other: Coordinate, rtt: float) -> bool:
        """Apply one observation; False if it was rejected (bad RTT or coordinate)."""
        if len(other.vec) != DIMENSIONALITY or not _valid(other) or not 0 <= rtt <= MAX_RTT:
            return False
        samples = self._samples.setdefault(node, deque(maxlen=LATENCY_FILTER_SIZE))
        samples.append(rtt)
        rtt = sorted(samples)[len(samples) // 2]
        self._vivaldi(other, rtt)
        self._adjust(other, rtt)
        self._gravity()
        if not _valid(self.coordinate):
            self.coordinate = Coordinate()
            self.resets += 1
        return True

    def _vivaldi(self, other: Coordinate, rtt: float) -> None:
        me = self.coordinate
        dist = distance(me, other)
        rtt = max(rtt, ZERO_THRESHOLD)
        wrongness = abs(dist - rtt) / rtt
        total = max(me.error + other.error, ZERO_THRESHOLD)
        weight = me.error / total
        me.error = min(CE * weight * wrongness + me.error * (1.0 - CE * weight), ERROR_MAX)
        self._apply_force(CC * weight * (rtt - dist), other)

    def _apply_force(self, force: float, other: Coordinate) -> None:
        me = self.coordinate
        unit, mag = _unit_vector_at(me.vec, other.vec, self.rng)
        me.vec = [v + u * force for v, u in zip(me.vec, unit, strict=True)]
        if mag > ZERO_THRESHOLD:
            me.height = max((me.height + other.height) * force / mag + me.height, HEIGHT_MIN)

    def _adjust(self, other: Coordinate, rtt: float) -> None:
        self._adjustments[self._adjustment_index] = rtt - _raw_distance(self.coordinate, other)
        self._adjustment_index = (self._adjustment_index + 1) % ADJUSTMENT_WINDOW
        self.coordinate.adjustment = sum(self._adjustments) / (2.0 * ADJUSTMENT_WINDOW)

    def _gravity(self) -> None:
        dist = distance(self._origin, self.coordinate)
        force = -1.0 * (dist / GRAVITY_RHO) ** 2
        self._apply_force(force, self._origin)
