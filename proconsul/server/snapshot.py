"""Operator snapshots: save the whole state as Consul's archive, restore one through Raft.

A save labels a point-in-time copy of the state store (taken in one event-loop
turn, so writes go on while it streams) with the raft index, term and
configuration it was taken at, encodes it once to size ``state.bin`` and again
into the archive, a temporary file, in a worker thread, and hands that back.

A restore checks the whole archive first (layout, SHA256SUMS, gzip trailer,
then every state record decodes) while extracting ``state.bin`` beside the
raft snapshots; only then does the leader adopt it at a fresh raft index
(:meth:`RaftNode.restore`), which followers receive by InstallSnapshot. A
barrier makes sure a quorum has it, then the leader's routines (session
timers, tombstone GC, CA, autopilot) restart on the new state, as Consul's
``reassertLeaderCh`` does.

Requests that must run on the leader (a save without ``stale``, every
restore) go to it over the snapshot stream when this server does not lead.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, BinaryIO

import msgspec

from proconsul.fsm.fsm import check_snapshot
from proconsul.lib.snapshot_archive import (
    ArchiveError,
    ChunkReader,
    read_archive,
    write_archive,
)
from proconsul.raft.interface import ConsensusError, NoLeaderError, NotLeaderError
from proconsul.raft.messages import SnapshotMeta
from proconsul.rpc import snapshot_stream
from proconsul.rpc.errors import RPCConnectionError, RPCDialError
from proconsul.rpc.mux import ConnType
from proconsul.server.forward import LeaderUnavailable
from proconsul.state.snapshot import SnapshotError
from proconsul.structs.errors import ERR_NO_LEADER, BadRequest, ConsulError
from proconsul.structs.query import QueryOptions
from proconsul.structs.snapshot import SNAPSHOT_SAVE, SnapshotRequest, SnapshotResponse

if TYPE_CHECKING:
    from proconsul.server.server import Server

log = logging.getLogger(__name__)

RESTORE_TIMEOUT = 120.0
SNAPSHOT_VERSION = 1


def consul_meta(meta: SnapshotMeta, size: int) -> dict[str, Any]:
    """``meta.json``: hashicorp/raft's SnapshotMeta as Consul writes it."""
    servers = meta.configuration.servers
    peers = msgspec.msgpack.encode([server.address for server in servers])
    return {
        "Version": SNAPSHOT_VERSION,
        "ID": f"{meta.term}-{meta.index}-{int(time.time() * 1000)}",
        "Index": meta.index,
        "Term": meta.term,
        "Peers": base64.b64encode(peers).decode(),
        "Configuration": {"Servers": [
            {"Suffrage": int(s.suffrage), "ID": s.id, "Address": s.address} for s in servers]},
        "ConfigurationIndex": meta.configuration_index,
        "Size": size,
    }


class Snapshots:
    """Save and restore for one server; ``spool_dir`` holds the temporary files."""

    def __init__(self, server: Server, spool_dir: str | None = None) -> None:
        self.server = server
        self.spool_dir = spool_dir
        self._restoring = asyncio.Lock()
        # The ACL hook: Consul allows snapshots to a management token only. ACL
        # enforcement sets this to a check of the request's token that raises
        # Forbidden ("Permission denied"); it runs before anything is read or changed.
        self.authorize: Callable[[SnapshotRequest], Awaitable[None]] | None = None

    def spool(self) -> BinaryIO:
        """A temporary file on disk (gone when closed) for an archive or a state stream."""
        return tempfile.TemporaryFile(dir=self.spool_dir)  # noqa: SIM115 - the caller closes it

    # ---- save -----------------------------------------------------------------

    async def save(self, request: SnapshotRequest) -> tuple[SnapshotResponse, BinaryIO]:
        """The archive of the current state, in a temporary file at its start."""
        if self.authorize is not None:
            await self.authorize(request)
        consensus = self.server.consensus
        if not request.AllowStale and not consensus.is_leader():
            return await self._forward(request, None)
        meta = consensus.applied_snapshot_meta()
        state = self.server.fsm.snapshot()  # same loop turn: the state at meta.index
        archive = self.spool()
        try:
            await asyncio.to_thread(self._write, state, meta, archive)
        except BaseException:
            archive.close()
            raise
        finally:
            state.release()
        archive.seek(0)
        response = SnapshotResponse(Index=meta.index)
        self.server.set_query_meta(response, _query_options(request))
        return response, archive

    @staticmethod
    def _write(state, meta: SnapshotMeta, archive: BinaryIO) -> None:
        # Two passes over the point-in-time rows instead of a state.bin file: one to
        # size the stream for meta.json and the tar header, one to write it.
        size = sum(len(chunk) for chunk in state.chunks())
        write_archive(archive, consul_meta(meta, size), ChunkReader(state.chunks()), size)
        archive.flush()

    # ---- restore --------------------------------------------------------------

    async def restore(self, request: SnapshotRequest, archive: BinaryIO) -> SnapshotResponse:
        """Replace the cluster's state with ``archive`` (checked before anything changes)."""
        if self.authorize is not None:
            await self.authorize(request)
        if request.AllowStale:
            raise BadRequest("stale not allowed for restore")
        if not self.server.consensus.is_leader():
            response, _ = await self._forward(request, archive)
            return response
        async with self._restoring:
            index = await self._restore_here(archive)
        response = SnapshotResponse(Index=index)
        self.server.set_query_meta(response, _query_options(request))
        return response

    async def _restore_here(self, archive: BinaryIO) -> int:
        consensus = self.server.consensus

        def extract(sink: BinaryIO) -> None:
            archive.seek(0)
            read_archive(archive, sink)
            sink.flush()
            sink.seek(0)
            try:
                check_snapshot(sink)
            except SnapshotError as err:
                raise ArchiveError(f"invalid snapshot state: {err}") from None

        try:
            index = await consensus.restore(extract, timeout=RESTORE_TIMEOUT)
        except ArchiveError as err:
            raise BadRequest(str(err)) from None
        except (NoLeaderError, NotLeaderError):
            raise LeaderUnavailable() from None
        except (ConsensusError, TimeoutError) as err:
            raise ConsulError(f"Raft error when restoring snapshot: {err or 'timed out'}") \
                from None
        log.info("snapshot: restored the state at raft index %d", index)
        try:
            await consensus.barrier(timeout=RESTORE_TIMEOUT)
        except (ConsensusError, TimeoutError) as err:
            raise ConsulError(f"failed to wait for the restored snapshot to replicate: "
                              f"{err or 'timed out'}") from None
        await self.server.reassert_leadership()
        return index

    # ---- forwarding -----------------------------------------------------------

    async def _forward(self, request: SnapshotRequest, upload: BinaryIO | None
                       ) -> tuple[SnapshotResponse, BinaryIO]:
        """Run ``request`` on the leader over the snapshot stream."""
        leader = self.server.consensus.leader_address()
        pool = self.server.forwarder.pool
        if leader is None or pool is None:
            raise ConsulError(ERR_NO_LEADER)
        return await call_server(pool, leader, request, upload, self.spool)


async def call_server(pool, address: str, request: SnapshotRequest, upload: BinaryIO | None,
                      spool) -> tuple[SnapshotResponse, BinaryIO]:
    """Send ``request`` to the server at ``address``; a save's archive comes back in a spool."""
    download = spool() if request.Op == SNAPSHOT_SAVE else None
    try:
        conn = await pool.dial_stream(address, ConnType.SNAPSHOT)
    except RPCDialError as err:
        if download is not None:
            download.close()
        raise ConsulError(f"failed to connect to {address}: {err}") from None
    try:
        if upload is not None:
            upload.seek(0)
        response = await snapshot_stream.call(conn, request, upload, download)
    except RPCConnectionError as err:
        if download is not None:
            download.close()
        raise ConsulError(f"snapshot stream to {address} failed: {err}") from None
    except BaseException:
        if download is not None:
            download.close()
        raise
    finally:
        await conn.close()
    if download is not None:
        download.seek(0)
    return response, download  # type: ignore[return-value]


def _query_options(request: SnapshotRequest) -> QueryOptions:
    return QueryOptions(AllowStale=request.AllowStale)
