"""Incremental (delta) ADS for one stream, sans-IO (its bookkeeping in session.py).

Feed it Envoy's ``DeltaDiscoveryRequest``s (:meth:`on_request`) and the proxy's
current resources (:meth:`set_resources`); :meth:`responses` hands back what to
send, in the order Envoy needs: clusters, endpoints, listeners, routes, then
the removals of clusters and endpoints. A resource is sent when Envoy is
subscribed to it and its version differs from the one last sent, so a
version Envoy NACKed is not sent again; a later changed one is. Upserting a
cluster resends its endpoints and upserting a listener resends the routes,
as Envoy re-warms them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from envoy.service.discovery.v3.discovery_pb2 import (
    DeltaDiscoveryRequest,
    DeltaDiscoveryResponse,
)
from envoy.service.discovery.v3.discovery_pb2 import (
    Resource as WireResource,
)

from proconsul.agent.xds.protos import CLUSTER, ENDPOINT, LISTENER, ROUTE, Resource
from proconsul.agent.xds.session import ORDER, WILDCARD_TYPES, Session, TypeState


@dataclass
class _TypeState(TypeState):
    wildcard: bool = False
    sent: dict[str, str] = field(default_factory=dict)  # name -> version Envoy was sent
    answered: bool = False  # a response of this type went out


class DeltaSession(Session[_TypeState]):
    """One delta ADS stream's protocol state; see the module docstring."""

    def __init__(self) -> None:
        super().__init__(_TypeState)

    def _subscribe(self, state: _TypeState, req: DeltaDiscoveryRequest) -> None:
        if not state.started:
            if req.type_url in WILDCARD_TYPES and not req.resource_names_subscribe:
                state.wildcard = True
            state.sent.update(req.initial_resource_versions)
        for name in req.resource_names_subscribe:
            if name == "*":
                state.wildcard = True
            else:
                state.names.add(name)
                state.sent.pop(name, None)
        for name in req.resource_names_unsubscribe:
            if name == "*":
                state.wildcard = False
            else:
                state.names.discard(name)
                state.sent.pop(name, None)

    def responses(self) -> list[DeltaDiscoveryResponse]:
        out, late_removals = [], []
        for type_url in ORDER:
            state = self.types[type_url]
            if not state.started:
                continue
            current = self.resources[type_url]
            upserts = [r for name, r in current.items()
                       if (state.wildcard or name in state.names)
                       and state.sent.get(name) != r.version]
            removed = [name for name in state.sent if name not in current]
            for r in upserts:
                state.sent[r.name] = r.version
            for name in removed:
                del state.sent[name]
            if type_url == CLUSTER:
                for r in upserts:  # a re-warming cluster needs its endpoints again
                    self.types[ENDPOINT].sent.pop(r.name, None)
            elif type_url == LISTENER and upserts:
                self.types[ROUTE].sent.clear()
            first = not state.answered and type_url in WILDCARD_TYPES
            if upserts or (removed and type_url in (LISTENER, ROUTE)) or first:
                # Envoy waits for a first answer even when there is nothing to send
                state.answered = True
                out.append(self._response(type_url, upserts,
                                          removed if type_url in (LISTENER, ROUTE) else []))
            if removed and type_url in (CLUSTER, ENDPOINT):
                late_removals.append((type_url, removed))
        for type_url, removed in late_removals:
            out.append(self._response(type_url, [], removed))
        return out

    def _response(self, type_url: str, upserts: list[Resource],
                  removed: list[str]) -> DeltaDiscoveryResponse:
        return DeltaDiscoveryResponse(
            type_url=type_url, nonce=self._next_nonce(type_url), removed_resources=removed,
            resources=[WireResource(name=r.name, version=r.version, resource=r.any)
                       for r in upserts])
