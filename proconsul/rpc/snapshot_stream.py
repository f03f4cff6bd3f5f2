"""The snapshot stream (connection type 5): one save or restore per connection.

As Consul's: the client writes a msgpack ``SnapshotRequest`` and, for a
restore, the archive, then half-closes; the server answers a msgpack
``SnapshotResponse`` followed, for a save, by the archive, and closes. The
archive moves between the connection and files in chunks, never whole.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import BinaryIO

import msgspec

from proconsul.rpc.codec import MsgpackReader, encode
from proconsul.rpc.conn import Conn, ConnClosed, StreamConn, TLSConn
from proconsul.rpc.errors import RPCConnectionError, RPCError, RPCProtocolError
from proconsul.structs.snapshot import (
    SNAPSHOT_RESTORE,
    SNAPSHOT_SAVE,
    SnapshotRequest,
    SnapshotResponse,
)

log = logging.getLogger(__name__)

CHUNK = 1 << 20
_OPS = {SNAPSHOT_SAVE: "save", SNAPSHOT_RESTORE: "restore"}

SnapshotHandler = Callable[[SnapshotRequest, BinaryIO | None],
                           Awaitable[tuple[SnapshotResponse, BinaryIO | None]]]
"""``handler(request, uploaded archive or None)`` -> (response, archive to send or None)."""


async def copy_to_conn(source: BinaryIO, conn: Conn) -> None:
    while chunk := source.read(CHUNK):
        await conn.write(chunk)


async def copy_from_conn(conn: Conn, first: bytes, sink: BinaryIO) -> int:
    """Write ``first`` and then everything up to the peer's EOF into ``sink``."""
    sink.write(first)
    size = len(first)
    while data := await conn.read():
        sink.write(data)
        size += len(data)
    return size


async def call(conn: Conn, request: SnapshotRequest, upload: BinaryIO | None,
               download: BinaryIO | None) -> SnapshotResponse:
    """Run ``request`` over a fresh snapshot connection; a restore sends ``upload``,
    a save's archive lands in ``download``. A server's refusal raises :class:`RPCError`."""
    await conn.write(encode(request))
    if request.Op == SNAPSHOT_RESTORE:
        assert upload is not None
        await copy_to_conn(upload, conn)
    if not isinstance(conn, StreamConn | TLSConn):
        raise RPCConnectionError("snapshot connection requires half-close support")
    await conn.write_eof()
    reader = MsgpackReader(conn)
    raw = await reader.read_value()
    if raw is None:
        raise RPCConnectionError("snapshot connection closed before the response")
    try:
        response = msgspec.msgpack.decode(raw, type=SnapshotResponse)
    except (msgspec.DecodeError, msgspec.ValidationError) as err:
        raise RPCProtocolError(f"failed to decode response: {err}") from None
    if response.Error:
        raise RPCError(response.Error)
    if download is not None:
        await copy_from_conn(conn, reader.take_buffered(), download)
    return response


async def serve(conn: Conn, handler: SnapshotHandler,
                spool: Callable[[], BinaryIO]) -> None:
    """Answer one snapshot connection; ``spool()`` gives a temporary file for an upload."""
    reader = MsgpackReader(conn)
    try:
        raw = await reader.read_value()
        if raw is None:
            return
        request = msgspec.msgpack.decode(raw, type=SnapshotRequest)
    except (msgspec.DecodeError, msgspec.ValidationError, RPCConnectionError) as err:
        await conn.write(encode(SnapshotResponse(Error=f"failed to decode request: {err}")))
        return
    upload: BinaryIO | None = None
    try:
        if request.Op == SNAPSHOT_RESTORE:
            upload = spool()
            await copy_from_conn(conn, reader.take_buffered(), upload)
            upload.seek(0)
        response, archive = await handler(request, upload)
    except ConnClosed:
        return
    except Exception as err:  # the error's text is the answer, as Consul's
        message = getattr(err, "message", None)
        if message is None:  # not one of Consul's errors: a bug, worth its traceback
            log.exception("snapshot stream: %s request failed", _OPS.get(request.Op, "unknown"))
            message = str(err) or type(err).__name__
        await conn.write(encode(SnapshotResponse(Error=message)))
        return
    finally:
        if upload is not None:
            upload.close()
    try:
        await conn.write(encode(response))
        if archive is not None:
            await copy_to_conn(archive, conn)
    except ConnectionError:  # the client left (ConnClosed, reset, broken pipe)
        log.debug("snapshot stream: client left before the %s answer was sent",
                  _OPS.get(request.Op, "unknown"))
    finally:
        if archive is not None:
            archive.close()
