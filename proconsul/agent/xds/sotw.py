"""State-of-the-world ADS for one stream, sans-IO.

Each type is sent whole (listeners, clusters) or as the names Envoy asked for
(endpoints, routes), with ``version_info`` the hash of the resource versions.
A type is sent again only when that hash changes or Envoy asks for other
names, so a NACKed version is not resent; a later changed one is.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from envoy.service.discovery.v3.discovery_pb2 import DiscoveryRequest, DiscoveryResponse

from proconsul.agent.xds.session import ORDER, WILDCARD_TYPES, Session, TypeState


@dataclass
class _TypeState(TypeState):
    sent_version: str | None = None
    sent_names: frozenset[str] | None = None


class SotwSession(Session[_TypeState]):
    """One state-of-the-world ADS stream's protocol state."""

    def __init__(self) -> None:
        super().__init__(_TypeState)

    def _subscribe(self, state: _TypeState, req: DiscoveryRequest) -> None:
        state.names = set(req.resource_names)

    def responses(self) -> list[DiscoveryResponse]:
        out = []
        for type_url in ORDER:
            state = self.types[type_url]
            if not state.started:
                continue
            current = self.resources[type_url]
            if type_url in WILDCARD_TYPES or not state.names:
                chosen = sorted(current.values(), key=lambda r: r.name) \
                    if type_url in WILDCARD_TYPES else []
            else:
                chosen = [current[n] for n in sorted(state.names) if n in current]
            names = frozenset(state.names)
            version = hashlib.sha256("".join(
                f"{r.name}={r.version};" for r in chosen).encode()).hexdigest()[:16]
            if version == state.sent_version and names == state.sent_names:
                continue
            state.sent_version, state.sent_names = version, names
            out.append(DiscoveryResponse(type_url=type_url, version_info=version,
                                         nonce=self._next_nonce(type_url),
                                         resources=[r.any for r in chosen]))
        return out
