"""The byte relay between two connections: bounded buffers, held early bytes,
half-close, byte counts."""

from __future__ import annotations

import asyncio

from proconsul.agent.proxy.relay import HIGH_WATER, Side, relay

TOTAL = 64 * 1024 * 1024  # well past what the kernel buffers of the chain can hold
MAX_READ = 256 * 1024  # the most one socket read hands a protocol


async def test_a_slow_reader_holds_the_sender_back_and_half_close_passes_through():
    loop = asyncio.get_running_loop()
    app_conn: asyncio.Future = loop.create_future()
    relayed: dict = {}

    async def app(reader, writer):
        app_conn.set_result((reader, writer))

    async def link(side: Side) -> tuple[int, int]:
        await asyncio.sleep(0.05)  # bytes sent before the link are held, not lost
        _, upstream = await loop.create_connection(Side, *app_address)
        relayed["to_app"] = upstream.transport
        return await relay(side, upstream)

    def accepted(side: Side) -> None:
        side.transport.pause_reading()
        relayed["traffic"] = asyncio.ensure_future(link(side))

    app_server = await asyncio.start_server(app, "127.0.0.1", 0)
    app_address = app_server.sockets[0].getsockname()[:2]
    relay_server = await loop.create_server(lambda: Side(accepted), "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection(*relay_server.sockets[0].getsockname()[:2])
    writer.write(b"early ")
    app_reader, app_writer = await app_conn
    assert await app_reader.readexactly(6) == b"early "
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
    assert relayed["to_app"].get_write_buffer_size() <= HIGH_WATER + MAX_READ
    writer.write_eof()
    received = 0
    while chunk := await app_reader.read(1 << 20):
        received += len(chunk)
    assert received == sent
    app_writer.write(b"done")
    app_writer.close()
    assert await reader.read() == b"done"
    assert await relayed["traffic"] == (sent + 6, 4)
    writer.close()
    relay_server.close()
    app_server.close()
