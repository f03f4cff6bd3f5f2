"""The snapshot stream over the RPC port, plain and inside TLS (the client half-closes)."""

from __future__ import annotations

import asyncio
import io

import pytest

from proconsul.rpc import snapshot_stream
from proconsul.rpc.mux import ConnType, PortMux
from proconsul.rpc.pool import MuxPool
from proconsul.structs.snapshot import (
    SNAPSHOT_RESTORE,
    SNAPSHOT_SAVE,
    SnapshotRequest,
    SnapshotResponse,
)

from .conftest import SERVER_NAME

HOST = "127.0.0.1"
ARCHIVE = b"archive-bytes" * 200_000  # several chunks and TLS records


async def handler(request: SnapshotRequest, upload):
    """Saves answer ARCHIVE; restores answer with the upload's size as the index."""
    if request.Op == SNAPSHOT_SAVE:
        return SnapshotResponse(Index=7), io.BytesIO(ARCHIVE)
    return SnapshotResponse(Index=len(upload.read())), None


@pytest.fixture(params=["plain", "tls"])
async def server_and_pool(request, server_tls, client_tls):
    tls = request.param == "tls"
    mux = PortMux(tls=server_tls if tls else None)
    mux.handle(ConnType.SNAPSHOT,
               lambda conn: snapshot_stream.serve(conn, handler, io.BytesIO))
    _, port = await mux.start(HOST)
    pool = MuxPool(tls=client_tls, server_name=SERVER_NAME) if tls else MuxPool()
    yield f"{HOST}:{port}", pool
    await pool.close()
    await mux.close()


async def test_save_and_restore(server_and_pool):
    address, pool = server_and_pool
    conn = await pool.dial_stream(address, ConnType.SNAPSHOT)
    download = io.BytesIO()
    try:
        response = await snapshot_stream.call(conn, SnapshotRequest(Op=SNAPSHOT_SAVE), None,
                                              download)
    finally:
        await conn.close()
    assert (response.Index, download.getvalue() == ARCHIVE) == (7, True)

    conn = await pool.dial_stream(address, ConnType.SNAPSHOT)
    try:
        response = await snapshot_stream.call(conn, SnapshotRequest(Op=SNAPSHOT_RESTORE),
                                              io.BytesIO(ARCHIVE), None)
    finally:
        await conn.close()
    assert response.Index == len(ARCHIVE)


async def test_a_client_leaving_before_the_answer_ends_the_stream_quietly(conn_pair):
    """The server's answer finds the connection closed: serve returns, the archive
    is closed, nothing is raised into the connection handler (which would log it)."""
    client, server = conn_pair
    archive = io.BytesIO(ARCHIVE)

    async def leave_then_answer(request, upload):
        await client.close()
        await asyncio.sleep(0)  # the close reaches the server's transport
        return SnapshotResponse(Index=7), archive

    await client.write(snapshot_stream.encode(SnapshotRequest(Op=SNAPSHOT_SAVE)))
    await snapshot_stream.serve(server, leave_then_answer, io.BytesIO)
    assert archive.closed
