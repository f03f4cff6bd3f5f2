"""One side of one peering's replication stream, sans-IO (Consul's HandleStream loop).

After the dialer's Open both sides behave alike. Each subscribes (a Request with
no nonce) to what it wants from the other: the exported service list, the exported
services, the trust bundle and, the dialer only, the acceptor's server addresses.
Each answers a subscription with Responses for that resource type (the latest of
each resource at once, then every change), each with a new nonce. A received
Response becomes writes for the leader to apply through raft and is ACKed (a
Request carrying its nonce), or NACKed (the same with an error) if it cannot be
read. Heartbeats go out every ``heartbeat_interval``; a stream that hears none for
``heartbeat_timeout`` ends. A Terminated message means the peer deleted the
peering.

The driver feeds :meth:`ReplicationSession.receive`, :meth:`publish` and
:meth:`tick` and carries out the :class:`Effects` they return.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from proconsul.server.peering.stream import resources
from proconsul.server.peering.stream.status import StreamStatus
from proconsul.structs import pbpeerstream as pb
from proconsul.structs.catalog import CheckServiceNode

__all__ = [
    "DEFAULT_HEARTBEAT_INTERVAL",
    "DEFAULT_HEARTBEAT_TIMEOUT",
    "Effects",
    "ImportService",
    "ImportServiceList",
    "MarkTerminated",
    "ReplicationSession",
    "StoreServerAddresses",
    "StoreTrustBundle",
]

DEFAULT_HEARTBEAT_INTERVAL = 15.0  # Consul's outgoing heartbeat interval
DEFAULT_HEARTBEAT_TIMEOUT = 120.0  # Consul's incoming heartbeat timeout
INVALID_ARGUMENT = 3  # gRPC status code in a NACK
ERR_HEARTBEAT_TIMEOUT = "heartbeat timeout"


@dataclass(frozen=True)
class ImportService:
    """Make the peer's imported instances of ``name`` exactly ``nodes`` (none: remove)."""

    name: str
    nodes: list[CheckServiceNode]


@dataclass(frozen=True)
class ImportServiceList:
    """The peer exports exactly ``names``: remove imported services not among them."""

    names: frozenset[str]


@dataclass(frozen=True)
class StoreTrustBundle:
    trust_domain: str
    root_pems: list[str]


@dataclass(frozen=True)
class StoreServerAddresses:
    """The acceptor's current server addresses (a dialer dials them next time)."""

    addresses: list[str]


@dataclass(frozen=True)
class MarkTerminated:
    """The peer deleted the peering: mark ours TERMINATED and drop what it gave us."""


Write = ImportService | ImportServiceList | StoreTrustBundle | StoreServerAddresses | \
    MarkTerminated


@dataclass
class Effects:
    """What one step asks of the driver: messages to send, writes to apply, and
    ``close`` (an error message, or "" for a clean end) when the stream must end."""

    send: list = field(default_factory=list)  # of pb.ReplicationMessage
    writes: list[Write] = field(default_factory=list)
    close: str | None = None


class ReplicationSession:
    """The protocol state of one stream; no I/O, no clock of its own."""

    def __init__(self, remote_id: str, *, dialer: bool, now: float,
                 heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL,
                 heartbeat_timeout: float = DEFAULT_HEARTBEAT_TIMEOUT,
                 status: StreamStatus | None = None) -> None:
        self.remote_id = remote_id  # the peering's ID on the other side
        self.dialer = dialer
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout
        self.status = status if status is not None else StreamStatus()
        self.subscribed: set[str] = set()  # what the peer asked us for
        self.latest: dict[tuple[str, str], pb.Any] = {}  # (url, id) -> newest payload
        self.closed = False
        self._nonce = 0
        self._heard = now
        self._beat = now
        self.status.connect()

    # ---- inputs -----------------------------------------------------------------

    def start(self, now: float) -> Effects:
        """Subscribe to what we want from the peer."""
        wanted = [pb.TYPE_URL_EXPORTED_SERVICE_LIST, pb.TYPE_URL_EXPORTED_SERVICE,
                  pb.TYPE_URL_PEERING_TRUST_BUNDLE]
        if self.dialer:
            wanted.append(pb.TYPE_URL_PEERING_SERVER_ADDRESSES)
        return self._sent(now, Effects(send=[
            pb.ReplicationMessage(request=pb.ReplicationMessage.Request(
                PeerID=self.remote_id, ResourceURL=url)) for url in wanted]))

    def receive(self, message, now: float) -> Effects:
        """A message from the peer."""
        if self.closed:
            return Effects()
        self._heard = now
        self.status.last_receive = now
        kind = message.WhichOneof("Payload")
        if kind == "heartbeat":
            self.status.last_heartbeat = now
            return Effects()
        if kind == "terminated":
            self.status.terminated = True
            return self._close(now, Effects(writes=[MarkTerminated()]), "")
        if kind == "request":
            return self._request(message.request, now)
        if kind == "response":
            return self._response(message.response, now)
        return self._close(now, Effects(), f"unexpected {kind or 'empty'} message on an "
                                           "established stream")

    def publish(self, url: str, resource_id: str, payload: pb.Any, now: float) -> Effects:
        """Our side of a resource changed: remember it, send it if the peer subscribed."""
        if url == pb.TYPE_URL_EXPORTED_SERVICE_LIST:  # no longer exported: not replayed
            names = self.status.exported_services = set(resources.decode_service_list(payload))
            kept = resources.with_proxies(names)
            for key in [k for k in self.latest
                        if k[0] == pb.TYPE_URL_EXPORTED_SERVICE and k[1] not in kept]:
                del self.latest[key]
        if self.latest.get((url, resource_id)) == payload:
            return Effects()
        self.latest[(url, resource_id)] = payload
        if self.closed or url not in self.subscribed:
            return Effects()
        return self._sent(now, Effects(send=[self._response_message(url, resource_id,
                                                                    payload)]))

    def tick(self, now: float) -> Effects:
        """Time passed: a heartbeat when due; the end of a stream that went quiet."""
        if self.closed:
            return Effects()
        if now - self._heard >= self.heartbeat_timeout:
            return self._close(now, Effects(), ERR_HEARTBEAT_TIMEOUT)
        if now - self._beat >= self.heartbeat_interval:
            self._beat = now
            return self._sent(now, Effects(send=[pb.ReplicationMessage(
                heartbeat=pb.ReplicationMessage.Heartbeat())]))
        return Effects()

    def next_deadline(self) -> float:
        """When :meth:`tick` next has something to do."""
        return min(self._beat + self.heartbeat_interval, self._heard + self.heartbeat_timeout)

    def terminate(self, now: float) -> Effects:
        """We deleted the peering: tell the peer and end."""
        if self.closed:
            return Effects()
        effects = self._sent(now, Effects(send=[pb.ReplicationMessage(
            terminated=pb.ReplicationMessage.Terminated())]))
        return self._close(now, effects, "")

    def disconnected(self, now: float, error: str) -> None:
        """The transport ended (the driver saw it)."""
        if not self.closed:
            self.closed = True
            self.status.disconnect(now, error)

    # ---- steps ------------------------------------------------------------------

    def _request(self, request, now: float) -> Effects:
        url = request.ResourceURL
        if not request.ResponseNonce:  # a subscription
            if url not in resources.KNOWN_URLS:
                return self._close(now, Effects(),
                                   f"subscription request to unknown resource URL: {url}")
            if url == pb.TYPE_URL_PEERING_SERVER_ADDRESSES and self.dialer:
                return self._close(now, Effects(), "an acceptor has no server addresses "
                                                   "to subscribe to")
            self.subscribed.add(url)
            return self._sent(now, Effects(send=[
                self._response_message(u, rid, payload)
                for (u, rid), payload in sorted(self.latest.items(), key=lambda kv: kv[0])
                if u == url]))
        if request.HasField("Error"):
            self.status.last_nack, self.status.last_nack_message = now, \
                request.Error.message
        else:
            self.status.last_ack = now
        return Effects()

    def _response(self, response, now: float) -> Effects:
        url, nonce = response.ResourceURL, response.Nonce
        try:
            writes = self._writes(url, response.ResourceID, response.Resource)
        except resources.PayloadError as err:
            self.status.last_recv_error, self.status.last_recv_error_message = now, str(err)
            return self._sent(now, Effects(send=[self._ack(url, nonce, str(err))]))
        self.status.last_recv_success = now
        return self._sent(now, Effects(send=[self._ack(url, nonce)], writes=writes))

    def _writes(self, url: str, resource_id: str, payload: pb.Any) -> list[Write]:
        imported = self.status.imported_services
        if url == pb.TYPE_URL_EXPORTED_SERVICE:
            if not resource_id:
                raise resources.PayloadError("exported service without a name")
            nodes = resources.decode_service(payload)
            if not resource_id.endswith(resources.PROXY_SUFFIX):  # synthetic proxies are
                if nodes:                                             # no service of their own
                    imported.add(resource_id)
                else:
                    imported.discard(resource_id)
            return [ImportService(resource_id, nodes)]
        if url == pb.TYPE_URL_EXPORTED_SERVICE_LIST:
            names = frozenset(resources.decode_service_list(payload))
            imported.intersection_update(names)
            return [ImportServiceList(names)]
        if url == pb.TYPE_URL_PEERING_TRUST_BUNDLE:
            return [StoreTrustBundle(*resources.decode_trust_bundle(payload))]
        if url == pb.TYPE_URL_PEERING_SERVER_ADDRESSES and self.dialer:
            addresses = resources.decode_addresses(payload)
            if not addresses:
                raise resources.PayloadError("empty server addresses")
            return [StoreServerAddresses(addresses)]
        raise resources.PayloadError(f"unexpected response for resource URL: {url}")

    def _response_message(self, url: str, resource_id: str, payload: pb.Any):
        self._nonce += 1
        nonce = f"{self._nonce:08x}"
        return pb.ReplicationMessage(response=pb.ReplicationMessage.Response(
            Nonce=nonce, ResourceURL=url, ResourceID=resource_id, Resource=payload,
            operation=pb.OPERATION_UPSERT))

    def _ack(self, url: str, nonce: str, error: str = ""):
        request = pb.ReplicationMessage.Request(PeerID=self.remote_id, ResponseNonce=nonce,
                                                ResourceURL=url)
        if error:
            request.Error.CopyFrom(pb.Status(code=INVALID_ARGUMENT, message=error))
        return pb.ReplicationMessage(request=request)

    def _sent(self, now: float, effects: Effects) -> Effects:
        if effects.send:
            self.status.last_send = now
        return effects

    def _close(self, now: float, effects: Effects, error: str) -> Effects:
        self.closed = True
        self.status.disconnect(now, error)
        effects.close = error
        return effects
