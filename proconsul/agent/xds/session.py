"""What both ADS flavours keep for one stream, sans-IO.

:class:`Session` holds a state per served type URL, the proxy's current resources,
the nonces sent and not yet answered, and the ACKs received; it takes each request's
type URL and (N)ACK. Its flavours, delta.py and sotw.py, say what a request subscribes
to (:meth:`Session._subscribe`) and what goes out (``responses``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

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
    """Envoy rejected the response with ``nonce``: its message, for the log."""

    type_url: str
    nonce: str
    message: str


@dataclass
class TypeState:
    """One type URL on one stream: whether Envoy asked for it, and which names."""

    names: set[str] = field(default_factory=set)
    started: bool = False


State = TypeVar("State", bound=TypeState)


class Session(Generic[State]):
    """One ADS stream's protocol state, whichever flavour."""

    def __init__(self, new_state: Callable[[], State]) -> None:
        self.types: dict[str, State] = {t: new_state() for t in ORDER}
        self.resources: dict[str, dict[str, Resource]] = {t: {} for t in ORDER}
        self.pending: dict[str, str] = {}  # nonce -> type URL, until (N)ACKed
        self.acked: dict[str, int] = {}  # type URL -> ACKs received
        self._nonce = 0

    def on_request(self, req: Any) -> Nack | None:
        """Take in a request; a NACK comes back for the caller to log."""
        if not req.type_url:
            raise StreamError("INVALID_ARGUMENT", "type URL is required for ADS")
        state = self.types.get(req.type_url)
        if state is None:
            return None  # a type we do not serve (SDS, ...): nothing to send
        self._subscribe(state, req)
        state.started = True
        if not req.response_nonce:
            return None
        self.pending.pop(req.response_nonce, None)
        if req.HasField("error_detail"):
            return Nack(req.type_url, req.response_nonce, req.error_detail.message)
        self.acked[req.type_url] = self.acked.get(req.type_url, 0) + 1
        return None

    def _subscribe(self, state: State, req: Any) -> None:
        """What ``req`` asks of its type (``state.started`` tells a first request)."""
        raise NotImplementedError

    def set_resources(self, type_url: str, resources: dict[str, Resource]) -> None:
        self.resources[type_url] = resources

    def _next_nonce(self, type_url: str) -> str:
        """The nonce of a response of ``type_url`` about to go out."""
        self._nonce += 1
        nonce = f"{self._nonce:08x}"
        self.pending[nonce] = type_url
        return nonce
