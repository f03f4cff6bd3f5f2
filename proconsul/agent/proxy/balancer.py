"""Which upstream instance to dial: passing instances from the agent, round robin,
the next one tried when a dial or handshake fails. Pure; no I/O."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from proconsul.structs.service_kinds import CONNECT_PROXY


@dataclass(frozen=True)
class Endpoint:
    """One dialable instance and the identity its certificate must carry."""

    address: str
    port: int
    service: str  # the destination service the certificate names
    datacenter: str
    node: str = ""

    def __str__(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"


def endpoints(entries: list[dict[str, Any]]) -> list[Endpoint]:
    """Endpoints from ``/v1/health/connect/:svc`` or a prepared query's Nodes: a proxy
    is reached at its own address and names the service it fronts; a native service
    names itself. Entries that are neither are skipped."""
    found = []
    for entry in entries:
        node = entry.get("Node") or {}
        svc = entry.get("Service") or {}
        if svc.get("Kind") == CONNECT_PROXY:
            name = (svc.get("Proxy") or {}).get("DestinationServiceName", "")
        elif (svc.get("Connect") or {}).get("Native"):
            name = svc.get("Service", "")
        else:
            continue
        address = svc.get("Address") or node.get("Address") or ""
        port = svc.get("Port") or 0
        if name and address and port:
            found.append(Endpoint(address, port, name, node.get("Datacenter", ""),
                                  node.get("Node", "")))
    return found


class Balancer:
    """Round robin over the current endpoints, starting at a random one."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()
        self._endpoints: list[Endpoint] = []
        self._next = 0

    @property
    def endpoints(self) -> list[Endpoint]:
        return list(self._endpoints)

    def update(self, found: list[Endpoint]) -> bool:
        """Replace the endpoints; True if the set changed."""
        ordered = sorted(set(found), key=lambda e: (e.address, e.port, e.node))
        if ordered == self._endpoints:
            return False
        self._endpoints = ordered
        self._next = self._rng.randrange(len(ordered)) if ordered else 0
        return True

    def order(self) -> list[Endpoint]:
        """Every endpoint once, in the order one connection should try them; the next
        connection starts one further on."""
        if not self._endpoints:
            return []
        start = self._next % len(self._endpoints)
        self._next = start + 1
        return self._endpoints[start:] + self._endpoints[:start]
