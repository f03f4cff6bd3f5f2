"""Tagged iptables rules that cut one 127.0.0.x host off from the others, and always go away.

Rules live in a chain of their own (:data:`CHAIN`), each carrying the comment
:data:`TAG`, and match only the soak's own ports, so a soak sharing the machine
with other tests never drops their packets even if it shares an address.
:func:`remove_leftovers` clears what a crashed run left behind.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable

CHAIN = "PROCONSUL_SOAK"
TAG = "proconsul-soak"
MAX_PORTS = 15  # iptables multiport's limit


def _iptables(*args: str, check: bool = True) -> bool:
    result = subprocess.run(["iptables", "-w", *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"iptables {' '.join(args)} failed: {result.stderr.strip()}")
    return result.returncode == 0


_JUMP = ("INPUT", "-m", "comment", "--comment", TAG, "-j", CHAIN)


def remove_leftovers() -> None:
    """Delete the soak's chain and every jump to it (safe to call at any time)."""
    while _iptables("-D", *_JUMP, check=False):
        pass
    _iptables("-F", CHAIN, check=False)
    _iptables("-X", CHAIN, check=False)


class Firewall:
    """Isolates hosts on the soak's ``ports`` until :meth:`heal`; :meth:`close` removes all."""

    def __init__(self, ports: Iterable[int]) -> None:
        self.ports = ",".join(str(p) for p in sorted(set(ports)))
        if len(self.ports.split(",")) > MAX_PORTS:
            raise ValueError(f"at most {MAX_PORTS} ports can be matched, got {self.ports}")
        remove_leftovers()
        _iptables("-N", CHAIN)
        _iptables("-I", *_JUMP)

    def isolate(self, host: str, others: Iterable[str]) -> None:
        """Drop every soak packet between ``host`` and ``others``, both directions."""
        for other in others:
            for src, dst in ((host, other), (other, host)):
                for proto in ("tcp", "udp"):
                    _iptables("-A", CHAIN, "-s", src, "-d", dst, "-p", proto,
                              "-m", "multiport", "--ports", self.ports,
                              "-m", "comment", "--comment", TAG, "-j", "DROP")

    def heal(self) -> None:
        _iptables("-F", CHAIN)

    def close(self) -> None:
        remove_leftovers()
