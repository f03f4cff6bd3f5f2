"""Lifeguard pieces: local health awareness and confirmation-shrinking suspicion timeouts."""

from __future__ import annotations

import math

__all__ = ["Awareness", "Suspicion", "suspicion_timeout"]


class Awareness:
    """Local health score in ``[0, max_multiplier - 1]``; higher means slower, more careful probing."""

    def __init__(self, max_multiplier: int) -> None:
        self.max_multiplier = max_multiplier
        self.score = 0

    def apply_delta(self, delta: int) -> None:
        self.score = min(max(self.score + delta, 0), self.max_multiplier - 1)

    def scale(self, timeout: float) -> float:
        return timeout * (self.score + 1)


def suspicion_timeout(suspicion_mult: int, num_nodes: int, probe_interval: float) -> float:
    """memberlist's minimum suspicion timeout: ``mult × max(1, log10(n)) × interval``."""
    node_scale = max(1.0, math.log10(max(1.0, float(num_nodes))))
    return suspicion_mult * int(node_scale * 1000) * probe_interval / 1000


class Suspicion:
    """One suspected node: timeout starts at ``max`` and shrinks towards ``min``
    with each independent confirmation (``k`` confirmations reach ``min``)."""

    def __init__(self, from_node: str, k: int, min_timeout: float, max_timeout: float,
                 start: float) -> None:
        self.k = k
        self.min_timeout = min_timeout
        self.max_timeout = max_timeout if k >= 1 else min_timeout
        self.start = start
        self.confirmations: set[str] = {from_node}
        self.n = 0

    def timeout(self) -> float:
        if self.k < 1:
            return self.min_timeout
        frac = math.log(self.n + 1.0) / math.log(self.k + 1.0)
        raw = self.max_timeout - frac * (self.max_timeout - self.min_timeout)
        timeout = math.floor(raw * 1000) / 1000
        return max(timeout, self.min_timeout)

    def deadline(self) -> float:
        return self.start + self.timeout()

    def confirm(self, from_node: str) -> bool:
        """Count an independent confirmation; False if redundant or already at k."""
        if self.n >= self.k or from_node in self.confirmations:
            return False
        self.confirmations.add(from_node)
        self.n += 1
        return True
