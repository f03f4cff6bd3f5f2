"""Incremental (delta) ADS for one stream, sans-IO: subscriptions, versions, nonces, NACKs.

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

ORDER = (CLUSTER, ENDPOINT, LISTENER, ROUTE)
WILDCARD_TYPES = (CLUSTER, LISTENER)


class StreamError(Exception):
    """A request the stream cannot go on with; ``code`` is the gRPC status name."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Nack:
    type_url: str
    nonce: str
    message: str


@dataclass
class _TypeState:
    wildcard: bool = False
    names: set[str] = field(default_factory=set)
    sent: dict[str, str] = field(default_factory=dict)  # name -> version Envoy was sent
    started: bool = False
    answered: bool = False  # a response of this type went out


class DeltaSession:
    """One delta ADS stream's protocol state; see the module docstring."""

    def __init__(self) -> None:
        self.types: dict[str, _TypeState] = {t: _TypeState() for t in ORDER}
        self.resources: dict[str, dict[str, Resource]] = {t: {} for t in ORDER}
        self._nonce = 0
        self.pending: dict[str, str] = {}  # nonce -> type URL, until (N)ACKed
        self.acked: dict[str, int] = {}  # type URL -> ACKs received

    def on_request(self, req: DeltaDiscoveryRequest) -> Nack | None:
        """Take in a request; a NACK comes back for the caller to log."""
        if not req.type_url:
            raise StreamError("INVALID_ARGUMENT", "type URL is required for ADS")
        state = self.types.get(req.type_url)
        if state is None:
            return None  # a type we do not serve (SDS, ...): nothing to send
        if not state.started:
            state.started = True
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
        if req.response_nonce:
            self.pending.pop(req.response_nonce, None)
            if req.HasField("error_detail"):
                return Nack(req.type_url, req.response_nonce, req.error_detail.message)
            self.acked[req.type_url] = self.acked.get(req.type_url, 0) + 1
        return None

    def set_resources(self, type_url: str, resources: dict[str, Resource]) -> None:
        self.resources[type_url] = resources

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
        self._nonce += 1
        nonce = f"{self._nonce:08x}"
        self.pending[nonce] = type_url
        return DeltaDiscoveryResponse(
            type_url=type_url, nonce=nonce, removed_resources=removed,
            resources=[WireResource(name=r.name, version=r.version, resource=r.any)
                       for r in upserts])
