"""The leader's peering streams: the asyncio/grpc.aio driver of
:class:`~.session.ReplicationSession`.

As acceptor it answers ``PeerStreamService/StreamResources`` (served by
:mod:`..exchange` on the gRPC TLS port, where dialers verify the server's peering
certificate): the first message
must be an Open that :func:`~.auth.check_open` accepts. As dialer its leader routine
keeps one stream per active peering that has server addresses, trying them in turn
with backoff. A stream runs three loops into one session: the peer's messages, clock
ticks (heartbeats) and the exported data (re-read whenever the state store says it
changed); writes go through raft before the messages they come with are sent.

Stream status is kept here, in memory, by peering ID, and read by Peering.Read/List
through :meth:`PeeringStreams.decorate` (State ACTIVE while the stream is healthy,
FAILING otherwise). A peering deleted here ends its stream with Terminated.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import grpc
from msgspec.structs import replace

from proconsul.server.endpoints.peering import ERR_PEERING_DISABLED
from proconsul.server.peering.channel import peer_channel
from proconsul.server.peering.materials import server_addresses
from proconsul.server.peering.stream.apply import apply_writes, remove_imported
from proconsul.server.peering.stream.auth import OpenRefused, check_open
from proconsul.server.peering.stream.exports import exported_resources
from proconsul.server.peering.stream.session import (
    DEFAULT_HEARTBEAT_INTERVAL,
    DEFAULT_HEARTBEAT_TIMEOUT,
    Effects,
    ReplicationSession,
)
from proconsul.server.peering.stream.status import StreamStatus
from proconsul.state.peering import SECRETS_TABLE
from proconsul.state.watch import WatchSet
from proconsul.structs import pbpeerstream as pb
from proconsul.structs.errors import ConsulError
from proconsul.structs.messages import MessageType
from proconsul.structs.peering import (
    STATE_ACTIVE,
    STATE_FAILING,
    Peering,
    PeeringSecretsWriteRequest,
    PeeringStreamStatus,
)

if TYPE_CHECKING:
    from proconsul.server.server import Server

__all__ = ["PeeringStreams"]

log = logging.getLogger("server.peering")

BACKOFF_MIN = 0.5
BACKOFF_MAX = 30.0
_STATUS_CODES = {code.value[0]: code for code in grpc.StatusCode}


class _Closed(Exception):
    """The session asked for the stream to end (message: its error, "" if clean)."""


class _Live:
    """A running stream: its session, its task and the one way into it."""

    def __init__(self, server: Server, peering: Peering, session: ReplicationSession,
                 send: Callable[[object], Awaitable[None]]) -> None:
        self.server = server
        self.peering = peering
        self.session = session
        self.send = send
        self.lock = asyncio.Lock()  # one step at a time: writes then sends, in order
        self.stop = asyncio.Event()
        self.reason = ""

    def end(self, reason: str) -> None:
        """Stop the stream from this side (``reason`` unless the session already ended)."""
        self.reason = reason
        self.stop.set()

    async def handle(self, effects: Effects) -> None:
        async with self.lock:
            if effects.writes:
                await apply_writes(self.server, self.peering, effects.writes)
            for message in effects.send:
                await self.send(message)
        if effects.close is not None:
            raise _Closed(effects.close)


class PeeringStreams:
    """See the module docstring."""

    def __init__(self, server: Server, heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL,
                 heartbeat_timeout: float = DEFAULT_HEARTBEAT_TIMEOUT) -> None:
        self.server = server
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout
        self.statuses: dict[str, StreamStatus] = {}
        self.live: dict[str, _Live] = {}
        self.dialers: dict[str, asyncio.Task] = {}

    # ---- what reads show ------------------------------------------------------------

    def decorate(self, peering: Peering) -> Peering:
        """``peering`` with its stream's status and the State it implies."""
        status = self.statuses.get(peering.ID)
        if status is None:
            return peering
        state = peering.State
        if peering.is_active():
            state = STATE_ACTIVE if status.healthy(time.monotonic(), self.heartbeat_timeout) \
                else STATE_FAILING
        return replace(peering, State=state, StreamStatus=PeeringStreamStatus(
            ImportedServices=sorted(status.imported_services) or None,
            ExportedServices=sorted(status.exported_services) or None,
            LastHeartbeat=_wall(status.last_heartbeat), LastReceive=_wall(status.last_receive),
            LastSend=_wall(status.last_send)))

    # ---- leader routine: dialers and deletions -----------------------------------------

    async def run(self) -> None:
        """On the leader: keep a dialer per dialing peering, end streams of peerings
        deleted here; everything stops when leadership does."""
        store = self.server.store
        try:
            while True:
                ws = WatchSet()
                ws.add(("index", SECRETS_TABLE))  # a dialer needs its stream secret
                _, peerings = store.peering_list(ws)
                by_id = {p.ID: p for p in peerings}
                with _armed(store, ws) as changed:
                    for peer_id in [i for i, t in self.dialers.items() if t.done()]:
                        del self.dialers[peer_id]
                    for peering in peerings:
                        if peering.should_dial() and peering.is_active() and \
                                peering.ID not in self.dialers and \
                                store.peering_secrets_read(peering.ID) is not None:
                            self.dialers[peering.ID] = asyncio.create_task(
                                self._dial(peering.ID), name=f"peering-dial-{peering.Name}")
                    for peer_id, live in list(self.live.items()):
                        current = by_id.get(peer_id)
                        if current is None or not current.is_active():
                            await self._terminate(live)
                    await changed.wait()
        finally:
            for task in self.dialers.values():
                task.cancel()
            for live in self.live.values():
                live.end("leadership lost")
            self.dialers.clear()
            self.live.clear()
            self.statuses.clear()

    async def cleanup(self, peering: Peering) -> None:
        """Before the deletion routine removes ``peering``: end its stream with
        Terminated and drop what the peer exported to us."""
        live = self.live.get(peering.ID)
        if live is not None:
            await self._terminate(live)
        await remove_imported(self.server, peering.Name)

    async def _terminate(self, live: _Live) -> None:
        """Our peering was deleted: tell the peer (Terminated) and end the stream."""
        try:
            await live.handle(live.session.terminate(time.monotonic()))
        except _Closed:
            pass
        except (grpc.RpcError, OSError) as err:
            log.debug("peering %s: could not send Terminated: %s", live.peering.Name, err)
        live.end("")

    async def _dial(self, peering_id: str) -> None:
        """One dialing peering: stream to its server addresses in turn, with backoff."""
        store, failures, turn = self.server.store, 0, 0
        while True:
            peering = store.peering_read_by_id(None, peering_id)[1]
            secrets = store.peering_secrets_read(peering_id)
            if peering is None or not peering.is_active() or not peering.should_dial() \
                    or secrets is None:
                return
            addresses = list(peering.PeerServerAddresses or ())
            address = addresses[turn % len(addresses)]
            status = self.statuses.setdefault(peering_id, StreamStatus())
            try:
                await self._dial_once(peering, secrets.ActiveStreamSecretID, address, status)
                failures = 0
            except (grpc.RpcError, OSError, _Closed) as err:
                message = err.details() if isinstance(err, grpc.aio.AioRpcError) else str(err)
                status.disconnect(time.monotonic(), message)
                log.warning("peering %s: stream to %s ended: %s", peering.Name, address,
                            message)
                failures += 1
            if status.terminated:
                return
            turn += 1
            await asyncio.sleep(min(BACKOFF_MAX, BACKOFF_MIN * 2 ** max(0, failures - 1)))

    async def _dial_once(self, peering: Peering, secret: str, address: str,
                         status: StreamStatus) -> None:
        async with peer_channel(address, list(peering.PeerCAPems or ()),
                                peering.PeerServerName or "") as channel:
            call = channel.stream_stream(
                pb.STREAM_RESOURCES, request_serializer=_serialize,
                response_deserializer=pb.ReplicationMessage.FromString)()
            await call.write(pb.ReplicationMessage(open=pb.ReplicationMessage.Open(
                PeerID=peering.PeerID or "", StreamSecretID=secret,
                Remote=pb.RemoteInfo(Datacenter=self.server.config.datacenter))))
            session = ReplicationSession(peering.PeerID or "", dialer=True,
                                         now=time.monotonic(), status=status,
                                         heartbeat_interval=self.heartbeat_interval,
                                         heartbeat_timeout=self.heartbeat_timeout)
            await self._run(peering, session, _reads(call.read), call.write, dialer=True)
            await call.done_writing()

    # ---- acceptor: the gRPC handler -----------------------------------------------------

    async def stream_resources(self, _requests: object, context) -> None:
        first = await context.read()
        if first is grpc.aio.EOF:
            return
        if not self.server.config.peering_enabled:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, ERR_PEERING_DISABLED)
        if not self.server.consensus.is_leader():
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                "cannot establish a peering stream on a follower node")
        store = self.server.store
        peer_id = first.open.PeerID if first.WhichOneof("Payload") == "open" else ""
        peering = store.peering_read_by_id(None, peer_id)[1] if peer_id else None
        try:
            promote = check_open(first, peering,
                                 store.peering_secrets_read(peer_id) if peer_id else None)
        except OpenRefused as refused:
            await context.abort(_STATUS_CODES[refused.code], refused.message)
        assert peering is not None
        if promote is not None:
            await self.server.raft_apply(MessageType.PEERING_SECRETS_WRITE,
                                         PeeringSecretsWriteRequest(SecretsRequest=promote))
        session = ReplicationSession(peering.PeerID or "", dialer=False, now=time.monotonic(),
                                     status=self.statuses.setdefault(peering.ID,
                                                                     StreamStatus()),
                                     heartbeat_interval=self.heartbeat_interval,
                                     heartbeat_timeout=self.heartbeat_timeout)
        try:
            await self._run(peering, session, _reads(context.read), context.write,
                            dialer=False)
        except _Closed as closed:
            if str(closed):
                await context.abort(grpc.StatusCode.INTERNAL, str(closed))

    # ---- one stream ---------------------------------------------------------------------

    async def _run(self, peering: Peering, session: ReplicationSession,
                   incoming: AsyncIterator, send: Callable[[object], Awaitable[None]],
                   dialer: bool) -> None:
        """Run ``session`` until the peer hangs up or either side ends it; _Closed with
        the error if it ended on one."""
        live = _Live(self.server, peering, session, send)
        old = self.live.get(peering.ID)
        if old is not None:
            old.end("replaced by a newer stream")
        self.live[peering.ID] = live
        log.info("peering %s: stream %s", peering.Name, "dialed" if dialer else "accepted")
        tasks = [asyncio.create_task(self._receive(live, incoming)),
                 asyncio.create_task(self._ticks(live)),
                 asyncio.create_task(self._exports(live, dialer)),
                 asyncio.create_task(self._stopped(live))]
        error = "stream cancelled"
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            try:
                next(iter(done)).result()
            except _Closed as closed:
                error = str(closed)
            except (grpc.RpcError, OSError) as err:
                error = err.details() if isinstance(err, grpc.aio.AioRpcError) else str(err)
            if error:
                raise _Closed(error)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            session.disconnected(time.monotonic(), error)
            if self.live.get(peering.ID) is live:
                del self.live[peering.ID]

    async def _receive(self, live: _Live, incoming: AsyncIterator) -> None:
        await live.handle(live.session.start(time.monotonic()))
        async for message in incoming:
            await live.handle(live.session.receive(message, time.monotonic()))
        raise _Closed("stream ended by the peer")

    async def _stopped(self, live: _Live) -> None:
        await live.stop.wait()
        raise _Closed("" if live.session.closed else live.reason)

    def _server_addresses(self) -> list[str]:
        """Where dialers reach this cluster's servers (none known: none sent)."""
        try:
            return server_addresses(self.server)
        except ConsulError:
            return []

    async def _ticks(self, live: _Live) -> None:
        while True:
            await asyncio.sleep(max(0.0, live.session.next_deadline() - time.monotonic()))
            await live.handle(live.session.tick(time.monotonic()))

    async def _exports(self, live: _Live, dialer: bool) -> None:
        store = self.server.store
        while True:
            ws = WatchSet()
            addresses = () if dialer else self._server_addresses()
            exported = exported_resources(store, ws, live.peering.Name,
                                          self.server.config.datacenter, addresses)
            with _armed(store, ws) as changed:
                for url, resource_id, payload in exported:
                    await live.handle(live.session.publish(url, resource_id, payload,
                                                           time.monotonic()))
                await changed.wait()


async def _reads(read: Callable[[], Awaitable[object]]) -> AsyncIterator:
    while True:
        message = await read()
        if message is grpc.aio.EOF:
            return
        yield message


@contextlib.contextmanager
def _armed(store, ws: WatchSet) -> Iterator[asyncio.Event]:
    """An event a write firing one of ``ws``'s topics sets. Armed at once, right after
    the read that filled ``ws``: writes made while the reader still acts on what it
    read (awaiting sends or raft) are not missed."""
    fired = asyncio.Event()
    store.watches.register(ws.topics, fired.set)
    try:
        yield fired
    finally:
        store.watches.unregister(ws.topics, fired.set)


def _serialize(message) -> bytes:
    return message.SerializeToString()


def _wall(monotonic: float | None) -> datetime | None:
    """A monotonic instant as wall-clock time, for reads."""
    if monotonic is None:
        return None
    return datetime.fromtimestamp(time.time() - (time.monotonic() - monotonic), UTC)
