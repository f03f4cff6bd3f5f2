"""The TCP transport with real sockets on 127.0.0.x."""

from __future__ import annotations

import asyncio
import struct

from proconsul.raft.messages import Heartbeat, HeartbeatResponse, Message, encode_message
from proconsul.raft.tcp_transport import TcpTransport
from tests.support.agent_process import next_loopback


class Inbox:
    def __init__(self) -> None:
        self.messages: asyncio.Queue[Message] = asyncio.Queue()

    def __call__(self, message: Message) -> None:
        self.messages.put_nowait(message)

    async def take(self, count: int) -> list[Message]:
        return [await asyncio.wait_for(self.messages.get(), 5) for _ in range(count)]


def heartbeat(seq: int, dst: str = "b") -> Heartbeat:
    return Heartbeat("a", dst, 1, "addr-a", 0, seq)


async def listening(host: str) -> tuple[TcpTransport, Inbox, str]:
    transport, inbox = TcpTransport(min_backoff=0.01, max_backoff=0.05), Inbox()
    transport.start(inbox)
    bound_host, port = await transport.listen(host, 0)
    return transport, inbox, f"{bound_host}:{port}"


async def test_messages_arrive_in_order_both_ways() -> None:
    host = next_loopback()
    a, inbox_a, addr_a = await listening(host)
    b, inbox_b, addr_b = await listening(host)
    try:
        for seq in range(500):
            a.send(addr_b, heartbeat(seq))
        b.send(addr_a, HeartbeatResponse("b", "a", 1, 7))
        received = await inbox_b.take(500)
        assert [m.read_seq for m in received] == list(range(500))
        assert await inbox_a.take(1) == [HeartbeatResponse("b", "a", 1, 7)]
        assert a.bad_frames == b.bad_frames == 0
    finally:
        await a.close()
        await b.close()


async def _raw_frame(address: str, frame: bytes) -> bytes:
    host, port = address.split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(frame)
    await writer.drain()
    rest = await asyncio.wait_for(reader.read(), 5)  # EOF: the transport hung up
    writer.close()
    return rest


async def test_bad_frames_close_the_connection_and_are_counted() -> None:
    transport, inbox, address = await listening(next_loopback())
    try:
        assert await _raw_frame(address, struct.pack(">I", 3) + b"\xc1\xc1\xc1") == b""
        assert await _raw_frame(address, struct.pack(">I", 1 << 31)) == b""
        assert transport.bad_frames == 2
        sender = TcpTransport()
        sender.send(address, heartbeat(1))
        assert (await inbox.take(1))[0].read_seq == 1  # still serving
        await sender.close()
    finally:
        await transport.close()


async def test_messages_to_a_down_peer_are_dropped_then_flow_after_reconnect() -> None:
    host = next_loopback()
    probe, _, address = await listening(host)
    await probe.close()  # a free port nobody listens on
    sender = TcpTransport(min_backoff=0.01, max_backoff=0.02)
    try:
        sender.send(address, heartbeat(0))
        while sender.dropped == 0:  # the failed connect drops the queued frame
            await asyncio.sleep(0.01)
        receiver, inbox = TcpTransport(), Inbox()
        receiver.start(inbox)
        await receiver.listen(host, int(address.rpartition(":")[2]))
        try:
            seq = 1
            while inbox.messages.empty():  # Raft-style retry until the link is back
                sender.send(address, heartbeat(seq))
                seq += 1
                await asyncio.sleep(0.01)
            assert (await inbox.take(1))[0].read_seq > 0
        finally:
            await receiver.close()
    finally:
        await sender.close()


async def test_serve_stream_takes_an_already_accepted_connection() -> None:
    """A port mux reads the type byte and hands the rest of the stream over."""
    transport, inbox = TcpTransport(), Inbox()
    transport.start(inbox)

    async def mux(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert await reader.readexactly(1) == b"\x01"
        await transport.serve_stream(reader, writer)

    host = next_loopback()
    server = await asyncio.start_server(mux, host, 0)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection(host, port)
        payload = encode_message(heartbeat(42))
        writer.write(b"\x01" + struct.pack(">I", len(payload)) + payload)
        await writer.drain()
        assert (await inbox.take(1))[0].read_seq == 42
        writer.close()
    finally:
        await transport.close()
        server.close()
        await server.wait_closed()
