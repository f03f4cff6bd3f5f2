"""The server port: every endpoint over msgpack-RPC, Raft beside it, and leave draining.

With a ``tls`` context the port also takes TLS (type 3, then the inner type);
with ``verify_incoming`` it takes nothing else.  With ``alpn_tls`` it also takes
native TLS (what servers of other DCs send through mesh gateways), dispatched by
ALPN, for the SNI ``server_names`` only.

Type 5 is the snapshot stream (save and restore, see :mod:`proconsul.server.snapshot`).
Connections of type 0 and yamux streams of type 4 carry msgpack-RPC; each
``Service.Method`` of :attr:`Server.endpoints` is registered with its request
type so the codec decodes the args into the endpoint's struct.  Type 1 goes
to the Raft transport.  While the server leaves, RPCs already running are
answered but new ones get :data:`ERR_SERVER_LEAVING`, so clients go elsewhere.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import TYPE_CHECKING, Any, BinaryIO

from proconsul.lib.metrics import registry as metrics
from proconsul.rpc import snapshot_stream
from proconsul.rpc.codec import RPCServer
from proconsul.rpc.conn import Conn
from proconsul.rpc.mux import ConnType, Handler, PortMux
from proconsul.server.endpoints import method_types
from proconsul.structs.errors import ERR_SERVER_LEAVING, ConsulError
from proconsul.structs.snapshot import (
    SNAPSHOT_RESTORE,
    SNAPSHOT_SAVE,
    SnapshotRequest,
    SnapshotResponse,
)

if TYPE_CHECKING:
    from proconsul.server.server import Server

LEAVE_DRAIN_TIME = 5.0


class ServerPort:
    """Listens on the server port for RPC (and Raft when ``raft`` is given)."""

    def __init__(self, server: Server, raft: Handler | None = None, *,
                 tls: ssl.SSLContext | None = None, verify_incoming: bool = False,
                 alpn_tls: ssl.SSLContext | None = None,
                 server_names: frozenset[str] | None = None) -> None:
        self.server = server
        self.mux = PortMux(tls=tls, verify_incoming=verify_incoming, alpn_tls=alpn_tls,
                           server_names=server_names)
        self.rpc = RPCServer()
        for method in server.endpoints:
            self.rpc.register(method, self._handler(method), method_types()[method][0])
        self.mux.handle(ConnType.CONSUL, self.rpc.serve_conn)
        if raft is not None:
            self.mux.handle(ConnType.RAFT, raft)
        self.mux.handle(ConnType.SNAPSHOT, self._serve_snapshot)
        self.draining = False
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        """RPCs being answered right now."""
        return self._in_flight

    async def start(self, host: str, port: int) -> tuple[str, int]:
        return await self.mux.start(host, port)

    async def close(self) -> None:
        await self.mux.close()

    def start_draining(self) -> None:
        """Refuse new RPCs from now on (retryably, so callers go elsewhere).

        Those waiting for a leader give up at once, as this server may never
        hear of the next one.
        """
        self.draining = True
        self.server.forwarder.stop_holding()

    async def dwell(self, seconds: float = LEAVE_DRAIN_TIME) -> None:
        """Stay ``seconds`` while draining, as Consul's leave_drain_time: the servers
        still forwarding here (a leader that just stepped down is taken for the leader
        until the next is elected) are refused retryably and retry until they reach
        another, rather than finding the connection closed under a write; RPCs under
        way are answered meanwhile."""
        await asyncio.sleep(seconds)

    async def _serve_snapshot(self, conn: Conn) -> None:
        await snapshot_stream.serve(conn, self._snapshot, self.server.snapshots.spool)

    async def _snapshot(self, request: SnapshotRequest, upload: BinaryIO | None
                        ) -> tuple[SnapshotResponse, BinaryIO | None]:
        if self.draining:
            raise ConsulError(ERR_SERVER_LEAVING)
        if request.Op == SNAPSHOT_RESTORE:
            assert upload is not None
            return await self.server.snapshots.restore(request, upload), None
        if request.Op == SNAPSHOT_SAVE:
            return await self.server.snapshots.save(request)
        raise ConsulError(f'unrecognized snapshot op "{request.Op}"')

    def _handler(self, method: str):
        async def handle(request: Any) -> Any:
            if self.draining:
                raise ConsulError(ERR_SERVER_LEAVING)
            self._in_flight += 1
            metrics.incr_counter("consul.rpc.request")
            try:
                return await self.server.rpc(method, request)
            except Exception:
                metrics.incr_counter("consul.rpc.request_error")
                raise
            finally:
                self._in_flight -= 1

        return handle
