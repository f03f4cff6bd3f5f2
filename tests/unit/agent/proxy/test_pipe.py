"""The byte pump between two connections: bounded buffers, half-close, byte counts."""

from __future__ import annotations

import asyncio

from proconsul.agent.proxy import pipe

TOTAL = 16 * 1024 * 1024


async def test_a_slow_reader_holds_the_sender_back_and_half_close_passes_through():
    app_conn: asyncio.Future = asyncio.get_running_loop().create_future()
    spliced: dict = {}

    async def app(reader, writer):
        app_conn.set_result((reader, writer))

    async def relay(reader, writer):
        upstream = await asyncio.open_connection(*app_server.sockets[0].getsockname()[:2],
                                                 limit=pipe.CHUNK)
        spliced["inner"] = (reader, upstream[1])
        spliced["traffic"] = asyncio.ensure_future(pipe.splice((reader, writer), upstream))

    app_server = await asyncio.start_server(app, "127.0.0.1", 0)
    relay_server = await asyncio.start_server(relay, "127.0.0.1", 0, limit=pipe.CHUNK)
    reader, writer = await asyncio.open_connection(
        *relay_server.sockets[0].getsockname()[:2])
    app_reader, app_writer = await app_conn
    block = b"x" * 65536
    sent = 0
    while sent < TOTAL:  # until the whole chain (kernel buffers included) is full
        writer.write(block)
        sent += len(block)
        try:
            await asyncio.wait_for(writer.drain(), 0.3)
        except TimeoutError:
            break
    assert sent < TOTAL, "nothing held the sender back"
    inner_reader, to_app = spliced["inner"]
    assert to_app.transport.get_write_buffer_size() <= pipe.HIGH_WATER + pipe.CHUNK
    # the reader pauses its transport past twice its limit (plus one socket read)
    assert len(inner_reader._buffer) <= 2 * pipe.CHUNK + 256 * 1024
    writer.write_eof()
    received = 0
    while chunk := await app_reader.read(1 << 20):
        received += len(chunk)
    assert received == sent
    app_writer.write(b"done")
    app_writer.close()
    assert await reader.read() == b"done"
    traffic = await spliced["traffic"]
    assert (traffic.sent, traffic.received) == (sent, 4)
    writer.close()
    relay_server.close()
    app_server.close()
