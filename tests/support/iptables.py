"""Real network partitions between 127.0.0.x hosts, with iptables (the tests run as root).

Each agent binds its cluster traffic to its own loopback address, so dropping
packets between two addresses cuts gossip, Raft and RPC between those agents
while the tests' own HTTP clients (from 127.0.0.1) still reach everyone.
Rules live in a chain of their own (one per partitioner, so tests running in parallel
never flush each other's rules) that is flushed on heal and removed on close.
"""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Iterable

_serial = itertools.count()


def _iptables(*args: str, check: bool = True) -> bool:
    result = subprocess.run(["iptables", "-w", *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"iptables {' '.join(args)} failed: {result.stderr.strip()}")
    return result.returncode == 0


class Partitioner:
    """Drops traffic between groups of hosts until :meth:`heal`."""

    def __init__(self) -> None:
        self.chain = f"PROCONSUL_TEST_{os.getpid()}_{next(_serial)}"
        if not _iptables("-n", "-L", self.chain, check=False):
            _iptables("-N", self.chain)
        _iptables("-F", self.chain)
        if not _iptables("-C", "INPUT", "-j", self.chain, check=False):
            _iptables("-I", "INPUT", "-j", self.chain)

    def partition(self, side: Iterable[str], other: Iterable[str]) -> None:
        """No packet crosses between ``side`` and ``other`` (either direction)."""
        others = list(other)
        for a in side:
            for b in others:
                _iptables("-A", self.chain, "-s", a, "-d", b, "-j", "DROP")
                _iptables("-A", self.chain, "-s", b, "-d", a, "-j", "DROP")

    def heal(self) -> None:
        _iptables("-F", self.chain)

    def close(self) -> None:
        self.heal()
        _iptables("-D", "INPUT", "-j", self.chain, check=False)
        _iptables("-X", self.chain, check=False)
