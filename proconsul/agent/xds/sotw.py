"""State-of-the-world ADS for one stream, sans-IO.

Each type is sent whole (listeners, clusters) or as the names Envoy asked for
(endpoints, routes), with ``version_info`` the hash of the resource versions.
A type is sent again only when that hash changes or Envoy asks for other
names, so a NACKed version is not resent; a later changed one is.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from envoy.service.discovery.v3.discovery_pb2 import DiscoveryRequest, DiscoveryResponse

from proconsul.agent.xds.delta import ORDER, WILDCARD_TYPES, Nack, StreamError
from proconsul.agent.xds.protos import Resource


@dataclass
class _TypeState:
    names: set[str] = field(default_factory=set)
    sent_version: str | None = None
    sent_names: frozenset[str] | None = None
    started: bool = False


class SotwSession:
    """One state-of-the-world ADS stream's protocol state."""

    def __init__(self) -> None:
        self.types: dict[str, _TypeState] = {t: _TypeState() for t in ORDER}
        self.resources: dict[str, dict[str, Resource]] = {t: {} for t in ORDER}
        self._nonce = 0
        self.acked: dict[str, int] = {}

    def on_request(self, req: DiscoveryRequest) -> Nack | None:
        if not req.type_url:
            raise StreamError("INVALID_ARGUMENT", "type URL is required for ADS")
        state = self.types.get(req.type_url)
        if state is None:
            return None
        state.started = True
        state.names = set(req.resource_names)
        if req.response_nonce:
            if req.HasField("error_detail"):
                return Nack(req.type_url, req.response_nonce, req.error_detail.message)
            self.acked[req.type_url] = self.acked.get(req.type_url, 0) + 1
        return None

    def set_resources(self, type_url: str, resources: dict[str, Resource]) -> None:
        self.resources[type_url] = resources

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
            self._nonce += 1
            out.append(DiscoveryResponse(type_url=type_url, version_info=version,
                                         nonce=f"{self._nonce:08x}",
                                         resources=[r.any for r in chosen]))
        return out


__all__ = ["Nack", "SotwSession", "StreamError"]
