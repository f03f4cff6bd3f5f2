"""The TCP transport with real sockets on 127.0.0.x, served by the RPC port mux."""

from __future__ import annotations

import asyncio
import struct

from proconsul.raft.messages import Heartbeat, HeartbeatResponse, Message
from proconsul.raft.tcp_transport import TcpTransport
from proconsul.rpc.mux import ConnType, PortMux
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


RAFT_BYTE = bytes([ConnType.RAFT])


class Listening:
    """A transport whose inbound side is a server port (a :class:`PortMux`)."""

    def __init__(self) -> None:
        self.transport = TcpTransport(min_backoff=0.01, max_backoff=0.05, preamble=RAFT_BYTE)
        self.inbox = Inbox()
        self.transport.start(self.inbox)
        self.mux = PortMux()
        self.mux.handle(ConnType.RAFT, self.transport.serve_stream)

    async def start(self, host: str, port: int = 0) -> str:
        bound_host, bound_port = await self.mux.start(host, port)
        return f"{bound_host}:{bound_port}"

    async def close(self) -> None:
        await self.mux.close()
        await self.transport.close()


async def listening(host: str) -> tuple[Listening, Inbox, str]:
    node = Listening()
    return node, node.inbox, await node.start(host)


async def test_messages_arrive_in_order_both_ways() -> None:
    host = next_loopback()
    a, inbox_a, addr_a = await listening(host)
    b, inbox_b, addr_b = await listening(host)
    try:
        for seq in range(500):
            a.transport.send(addr_b, heartbeat(seq))
        b.transport.send(addr_a, HeartbeatResponse("b", "a", 1, 7))
        received = await inbox_b.take(500)
        assert [m.read_seq for m in received] == list(range(500))
        assert await inbox_a.take(1) == [HeartbeatResponse("b", "a", 1, 7)]
        assert a.transport.bad_frames == b.transport.bad_frames == 0
    finally:
        await a.close()
        await b.close()


async def _raw_frame(address: str, frame: bytes) -> bytes:
    host, port = address.split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(RAFT_BYTE + frame)
    await writer.drain()
    rest = await asyncio.wait_for(reader.read(), 5)  # EOF: the transport hung up
    writer.close()
    return rest


async def test_bad_frames_close_the_connection_and_are_counted() -> None:
    transport, inbox, address = await listening(next_loopback())
    try:
        assert await _raw_frame(address, struct.pack(">I", 3) + b"\xc1\xc1\xc1") == b""
        assert await _raw_frame(address, struct.pack(">I", 1 << 31)) == b""
        assert transport.transport.bad_frames == 2
        sender = TcpTransport(preamble=RAFT_BYTE)
        sender.send(address, heartbeat(1))
        assert (await inbox.take(1))[0].read_seq == 1  # still serving
        await sender.close()
    finally:
        await transport.close()


async def test_deeply_nested_frame_is_a_bad_frame_not_a_traceback(caplog) -> None:
    transport, inbox, address = await listening(next_loopback())
    nested = b"\x81\xa1a" * 100_000 + b"\xc0"  # 100,000 nested maps
    try:
        assert await _raw_frame(address, struct.pack(">I", len(nested)) + nested) == b""
        assert transport.transport.bad_frames == 1
        assert [r.getMessage() for r in caplog.records if r.levelname != "DEBUG"] == [
            "raft: closing an inbound connection: bad frame (msgpack value nested too deeply)"]
    finally:
        await transport.close()


async def test_messages_to_a_down_peer_are_dropped_then_flow_after_reconnect() -> None:
    host = next_loopback()
    probe, _, address = await listening(host)
    await probe.close()  # a free port nobody listens on
    sender = TcpTransport(min_backoff=0.01, max_backoff=0.02, preamble=RAFT_BYTE)
    try:
        sender.send(address, heartbeat(0))
        while sender.dropped == 0:  # the failed connect drops the queued frame
            await asyncio.sleep(0.01)
        receiver = Listening()
        inbox = receiver.inbox
        await receiver.start(host, int(address.rpartition(":")[2]))
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


async def test_a_sender_without_the_raft_byte_is_not_served_as_raft() -> None:
    """The mux dispatches on the first byte: only type-1 connections reach Raft."""
    receiver, inbox, address = await listening(next_loopback())
    sender = TcpTransport(min_backoff=0.01, max_backoff=0.02)  # no preamble
    try:
        sender.send(address, heartbeat(1))
        while receiver.mux.counts["unhandled_type"] + receiver.mux.counts["unknown_type"] == 0:
            await asyncio.sleep(0.01)
        assert inbox.messages.empty()
    finally:
        await sender.close()
        await receiver.close()
