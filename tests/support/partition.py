"""Partition a set of servers whose peer traffic runs through fault proxies.

Every ordered pair (src, dst) gets its own :class:`FaultProxy` to dst; src
must be configured to dial dst at ``network.address(src, dst)``.  Cutting the
proxies that cross group boundaries partitions the servers, and since a proxy
carries both directions of the connections its source opens, every cut is
symmetric.
"""

from __future__ import annotations

from collections.abc import Iterable

from tests.support.fault_proxy import FaultProxy


class Network:
    """Proxied links between named servers; ``partition``, ``isolate`` and ``heal``."""

    def __init__(self, targets: dict[str, tuple[str, int]], host: str = "127.0.0.1"):
        self.names = sorted(targets)
        self.links: dict[tuple[str, str], FaultProxy] = {}
        try:
            for src in self.names:
                for dst in self.names:
                    if src != dst:
                        self.links[src, dst] = FaultProxy(targets[dst], host)
        except BaseException:
            self.close()
            raise

    def address(self, src: str, dst: str) -> tuple[str, int]:
        """Where ``src`` must dial to reach ``dst``."""
        return self.links[src, dst].address

    def partition(self, *groups: Iterable[str], reset: bool = False) -> None:
        """Split into ``groups`` (servers not named form one more group).

        Links inside a group are healed; links across groups are blocked,
        silently or (``reset``) by resetting connections.
        """
        side = {name: n for n, group in enumerate(groups) for name in group}
        unknown = set(side) - set(self.names)
        if unknown:
            raise ValueError(f"unknown servers: {sorted(unknown)}")
        for (src, dst), proxy in self.links.items():
            if side.get(src, -1) == side.get(dst, -1):
                proxy.heal()
            else:
                proxy.block(reset=reset)

    def isolate(self, name: str, reset: bool = False) -> None:
        self.partition([name], reset=reset)

    def heal(self) -> None:
        for proxy in self.links.values():
            proxy.heal()

    def close(self) -> None:
        for proxy in self.links.values():
            proxy.close()

    def __enter__(self) -> Network:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
