from __future__ import annotations

import asyncio
import os

import pytest

from proconsul.rpc.conn import read_exactly
from proconsul.rpc.yamux import (
    FLAG_ACK,
    FLAG_FIN,
    FLAG_RST,
    FLAG_SYN,
    GO_AWAY_NORMAL,
    GO_AWAY_PROTO_ERR,
    HEADER,
    TYPE_DATA,
    TYPE_GO_AWAY,
    TYPE_PING,
    TYPE_WINDOW_UPDATE,
    Config,
    RemoteGoAway,
    Session,
    SessionClosed,
    StreamClosed,
    StreamReset,
    YamuxProtocolError,
    YamuxTimeout,
    encode_header,
)

QUIET = Config(enable_keepalive=False)


@pytest.fixture
async def sessions(conn_pair):
    client = Session(conn_pair[0], client=True, config=QUIET)
    server = Session(conn_pair[1], client=False, config=QUIET)
    yield client, server
    await client.close()
    await server.close()


async def read_frame(conn) -> tuple[int, int, int, int, bytes]:
    _, typ, flags, sid, length = HEADER.unpack(await read_exactly(conn, HEADER.size))
    body = await read_exactly(conn, length) if typ == TYPE_DATA else b""
    return typ, flags, sid, length, body


async def read_all(stream) -> bytes:
    out = bytearray()
    while chunk := await stream.read():
        out += chunk
    return bytes(out)


def test_golden_headers():
    assert encode_header(TYPE_WINDOW_UPDATE, FLAG_SYN, 1, 0) == bytes.fromhex(
        "000100010000000100000000"
    )
    assert encode_header(TYPE_DATA, 0, 3, 5) == bytes.fromhex("000000000000000300000005")
    assert encode_header(TYPE_PING, FLAG_ACK, 0, 7) == bytes.fromhex("000200020000000000000007")
    assert encode_header(TYPE_GO_AWAY, 0, 0, GO_AWAY_PROTO_ERR) == bytes.fromhex(
        "000300000000000000000001"
    )
    assert encode_header(
        TYPE_WINDOW_UPDATE, FLAG_FIN | FLAG_RST, 2**32 - 2, 2**18
    ) == bytes.fromhex("0001000cfffffffe00040000")


async def test_client_open_and_write_on_the_wire(conn_pair):
    raw = conn_pair[1]
    client = Session(conn_pair[0], client=True, config=QUIET)
    first = await client.open()
    second = await client.open()
    assert (first.id, second.id) == (1, 3)
    assert await read_exactly(raw, 24) == bytes.fromhex(
        "000100010000000100000000000100010000000300000000"
    )
    await first.write(b"hi")
    assert await read_frame(raw) == (TYPE_DATA, 0, 1, 2, b"hi")
    await first.close()
    assert await read_frame(raw) == (TYPE_WINDOW_UPDATE, FLAG_FIN, 1, 0, b"")
    await client.close()


async def test_server_acks_on_accept_and_answers_ping(conn_pair):
    raw = conn_pair[0]
    server = Session(conn_pair[1], client=False, config=QUIET)
    await raw.write(encode_header(TYPE_DATA, FLAG_SYN, 1, 3) + b"abc")
    stream = await server.accept()
    assert await read_frame(raw) == (TYPE_WINDOW_UPDATE, FLAG_ACK, 1, 0, b"")
    assert await stream.read() == b"abc"
    await raw.write(encode_header(TYPE_PING, FLAG_SYN, 0, 42))
    assert await read_frame(raw) == (TYPE_PING, FLAG_ACK, 0, 42, b"")
    opened = await server.open()
    assert opened.id == 2
    await server.close()


async def test_echo_both_directions_and_stream_ids(sessions):
    client, server = sessions
    stream = await client.open()
    await stream.write(b"ping")
    accepted = await server.accept()
    assert await accepted.read() == b"ping"
    await accepted.write(b"pong")
    assert await stream.read() == b"pong"
    reverse = await server.open()
    await reverse.write(b"x")
    from_server = await client.accept()
    assert (reverse.id, from_server.id) == (2, 2)
    assert await from_server.read() == b"x"
    assert await client.ping() >= 0


async def test_many_concurrent_streams(sessions):
    client, server = sessions

    async def echo_server():
        async def one(stream):
            data = await read_all(stream)
            await stream.write(data[::-1])
            await stream.close()

        tasks = [asyncio.create_task(one(await server.accept())) for _ in range(40)]
        await asyncio.gather(*tasks)

    async def one_client(i: int) -> bytes:
        stream = await client.open()
        await stream.write(f"message-{i}".encode() * 50)
        await stream.close()
        return await read_all(stream)

    serving = asyncio.create_task(echo_server())
    replies = await asyncio.gather(*(one_client(i) for i in range(40)))
    assert replies == [(f"message-{i}".encode() * 50)[::-1] for i in range(40)]
    await serving
    assert client.num_streams == 0
    assert server.num_streams == 0


async def test_payload_larger_than_window_both_ways(sessions):
    client, server = sessions
    payload = os.urandom(1_500_000)  # ~6 windows
    stream = await client.open()
    writer = asyncio.create_task(stream.write(payload))
    accepted = await server.accept()
    received = bytearray()
    while len(received) < len(payload):
        received += await accepted.read(10_000)
    await writer
    assert bytes(received) == payload
    back = asyncio.create_task(accepted.write(payload))
    received = bytearray()
    while len(received) < len(payload):
        received += await stream.read()
    await back
    assert bytes(received) == payload


async def test_writer_blocks_until_reader_opens_window(sessions):
    client, server = sessions
    stream = await client.open()
    writer = asyncio.create_task(stream.write(b"a" * (256 * 1024 + 10)))
    accepted = await server.accept()
    await client.ping()  # the first window's worth is on the wire by now
    await server.ping()
    assert not writer.done()
    got = bytearray()
    while len(got) < 256 * 1024 + 10:
        got += await accepted.read()
    await writer


async def test_half_close_keeps_the_other_direction(sessions):
    client, server = sessions
    stream = await client.open()
    await stream.write(b"request")
    await stream.close()
    with pytest.raises(StreamClosed):
        await stream.write(b"more")
    accepted = await server.accept()
    assert await read_all(accepted) == b"request"
    await accepted.write(b"reply")
    await accepted.close()
    assert await read_all(stream) == b"reply"
    assert client.num_streams == 0 and server.num_streams == 0


async def test_reset_aborts_both_sides(sessions):
    client, server = sessions
    stream = await client.open()
    await stream.write(b"x")
    accepted = await server.accept()
    assert await accepted.read() == b"x"
    await stream.reset()
    with pytest.raises(StreamReset):
        await accepted.read()
    with pytest.raises(StreamReset):
        await accepted.write(b"y")
    with pytest.raises(StreamReset):
        await stream.read()
    assert client.num_streams == 0 and server.num_streams == 0


async def test_remote_go_away_blocks_new_streams_only(sessions):
    client, server = sessions
    existing = await client.open()
    accepted = await server.accept()
    await server.go_away()
    await client.ping()  # frames are ordered: the go-away arrived before the pong
    with pytest.raises(RemoteGoAway):
        await client.open()
    await existing.write(b"still works")
    assert await accepted.read() == b"still works"


async def test_local_go_away_resets_incoming_syn(conn_pair):
    raw = conn_pair[0]
    server = Session(conn_pair[1], client=False, config=QUIET)
    await server.go_away()
    assert await read_frame(raw) == (TYPE_GO_AWAY, 0, 0, GO_AWAY_NORMAL, b"")
    await raw.write(encode_header(TYPE_WINDOW_UPDATE, FLAG_SYN, 1, 0))
    assert await read_frame(raw) == (TYPE_WINDOW_UPDATE, FLAG_RST, 1, 0, b"")
    await server.close()


async def test_backlog_overflow_resets_stream(conn_pair):
    raw = conn_pair[0]
    server = Session(
        conn_pair[1], client=False, config=Config(enable_keepalive=False, accept_backlog=2)
    )
    for sid in (1, 3, 5):
        await raw.write(encode_header(TYPE_WINDOW_UPDATE, FLAG_SYN, sid, 0))
    assert await read_frame(raw) == (TYPE_WINDOW_UPDATE, FLAG_RST, 5, 0, b"")
    assert [(await server.accept()).id for _ in range(2)] == [1, 3]
    await server.close()


async def test_open_blocks_while_backlog_of_unacked_syns_is_full(conn_pair):
    raw = conn_pair[1]
    client = Session(
        conn_pair[0], client=True, config=Config(enable_keepalive=False, accept_backlog=1)
    )
    await client.open()
    blocked = asyncio.create_task(client.open())
    assert (await read_frame(raw))[2] == 1
    assert not blocked.done()
    await raw.write(encode_header(TYPE_WINDOW_UPDATE, FLAG_ACK, 1, 0))
    assert (await blocked).id == 3
    await client.close()


@pytest.mark.parametrize(
    ("frames", "go_away"),
    [
        (bytes([1]) + bytes(11), False),  # bad version
        (encode_header(7, 0, 0, 0), False),  # bad type
        (encode_header(TYPE_DATA, FLAG_SYN, 1, 256 * 1024 + 1), True),  # window exceeded
        (encode_header(TYPE_WINDOW_UPDATE, FLAG_SYN, 1, 0) * 2, True),  # duplicate stream
        (encode_header(TYPE_GO_AWAY, 0, 0, GO_AWAY_PROTO_ERR), False),
    ],
    ids=["version", "type", "window", "duplicate", "remote-proto-error"],
)
async def test_protocol_errors_close_the_session(conn_pair, frames, go_away):
    raw = conn_pair[0]
    server = Session(conn_pair[1], client=False, config=QUIET)
    await raw.write(frames)
    await asyncio.wait_for(server.wait_closed(), 5)
    assert isinstance(server.close_reason, Exception)
    if go_away:
        assert await read_frame(raw) == (TYPE_GO_AWAY, 0, 0, GO_AWAY_PROTO_ERR, b"")
        assert isinstance(server.close_reason, YamuxProtocolError)
    assert await raw.read() == b""
    with pytest.raises(SessionClosed):
        await server.open()


async def test_data_for_unknown_stream_is_discarded(conn_pair):
    raw = conn_pair[0]
    server = Session(conn_pair[1], client=False, config=QUIET)
    await raw.write(
        encode_header(TYPE_DATA, 0, 99, 5) + b"junk!" + encode_header(TYPE_PING, FLAG_SYN, 0, 1)
    )
    assert await read_frame(raw) == (TYPE_PING, FLAG_ACK, 0, 1, b"")
    assert not server.closed
    await server.close()


async def test_close_ends_streams_accept_and_open(sessions):
    client, server = sessions
    stream = await client.open()
    accepted = await server.accept()
    pending_accept = asyncio.create_task(server.accept())
    pending_read = asyncio.create_task(accepted.read())
    await client.close()
    assert await stream.read() == b""
    with pytest.raises(StreamClosed):
        await stream.write(b"x")
    await asyncio.wait_for(server.wait_closed(), 5)
    assert await pending_read == b""
    with pytest.raises(SessionClosed):
        await pending_accept
    with pytest.raises(SessionClosed):
        await client.open()


async def test_keepalive_closes_session_when_peer_is_silent(conn_pair):
    config = Config(keepalive_interval=0.01, connection_write_timeout=0.05)
    client = Session(conn_pair[0], client=True, config=config)
    assert (await read_frame(conn_pair[1]))[:2] == (TYPE_PING, FLAG_SYN)
    await asyncio.wait_for(client.wait_closed(), 5)
    assert isinstance(client.close_reason, YamuxTimeout)


async def test_unacknowledged_open_times_out_the_session(conn_pair):
    config = Config(enable_keepalive=False, stream_open_timeout=0.05)
    client = Session(conn_pair[0], client=True, config=config)
    await client.open()
    await asyncio.wait_for(client.wait_closed(), 5)
    assert isinstance(client.close_reason, YamuxTimeout)


async def test_close_without_remote_fin_times_out_with_rst(conn_pair):
    raw = conn_pair[1]
    config = Config(enable_keepalive=False, stream_close_timeout=0.05)
    client = Session(conn_pair[0], client=True, config=config)
    stream = await client.open()
    await raw.write(encode_header(TYPE_WINDOW_UPDATE, FLAG_ACK, 1, 0))
    await stream.close()
    frames = [await read_frame(raw) for _ in range(3)]
    assert [f[:3] for f in frames] == [
        (TYPE_WINDOW_UPDATE, FLAG_SYN, 1),
        (TYPE_WINDOW_UPDATE, FLAG_FIN, 1),
        (TYPE_WINDOW_UPDATE, FLAG_RST, 1),
    ]
    assert client.num_streams == 0
    await client.close()


async def test_a_write_stuck_past_the_write_timeout_closes_the_session():
    class StuckConn:
        async def read(self, n: int = 65536) -> bytes:
            await asyncio.Event().wait()

        async def write(self, data: bytes) -> None:
            await asyncio.Event().wait()

        async def close(self) -> None:
            pass

    config = Config(enable_keepalive=False, connection_write_timeout=0.05)
    client = Session(StuckConn(), client=True, config=config)
    await client.open()
    await asyncio.wait_for(client.wait_closed(), 5)
    assert isinstance(client.close_reason, YamuxTimeout)
