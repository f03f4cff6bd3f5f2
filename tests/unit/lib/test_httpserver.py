"""lib/httpserver over real loopback sockets: framing, limits, pipelining, streaming, shutdown."""

from __future__ import annotations

import asyncio
import io

import pytest

from proconsul.lib.httpserver import (
    ConnLimit,
    EncodedResponse,
    HttpServer,
    MethodNotAllowed,
    NotFound,
    Pending,
    Request,
    Response,
    Router,
    StreamResponse,
    protocol,
)


class Client:
    """A raw HTTP/1.1 connection that reads replies by their framing."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int) -> Client:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def reply(self, head_only: bool = False) -> tuple[int, dict[str, str], bytes]:
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        headers = {}
        while (line := await self.reader.readline()) != b"\r\n":
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        if head_only or status < 200 or status in (204, 304):
            return status, headers, b""
        if headers.get("transfer-encoding") == "chunked":
            body = b""
            while size := int((await self.reader.readline()).strip(), 16):
                body += await self.reader.readexactly(size)
                await self.reader.readline()
            await self.reader.readline()
            return status, headers, body
        return status, headers, await self.reader.readexactly(int(headers["content-length"]))

    async def closed(self) -> bool:
        return await self.reader.read() == b""

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def echo(request: Request) -> Response:
    body = await request.read()
    return Response(body=b"%s %s %s q=%s b=%s" % (
        request.method.encode(), request.path.encode(), request.query_string.encode(),
        ",".join(f"{k}={v}" for k, v in request.query.items()).encode(), body),
        content_type="text/plain")


@pytest.fixture
async def serve():
    servers = []

    async def start(handler=echo, **kwargs) -> HttpServer:
        server = HttpServer(handler, {"name": "test"}, **kwargs)
        await server.start("127.0.0.1", 0)
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


async def test_keep_alive_serves_many_requests_on_one_connection(serve):
    server = await serve()
    client = await Client.connect(server.port)
    for i in range(3):
        client.send(b"GET /v1/kv/a%%2Fb?stale&x=%d&y=a+b HTTP/1.1\r\nHost: x\r\n\r\n" % i)
        status, headers, body = await client.reply()
        assert status == 200
        assert body == b"GET /v1/kv/a/b stale&x=%d&y=a+b q=stale=,x=%d,y=a b b=" % (i, i)
        assert "date" in headers and "connection" not in headers
    await client.close()


async def test_pipelined_requests_are_answered_in_order(serve):
    async def slow_first(request: Request) -> Response:
        if request.path == "/slow":
            for _ in range(20):  # give the pipelined requests every chance to overtake
                await asyncio.sleep(0)
        return Response(body=request.path.encode())

    server = await serve(slow_first)
    client = await Client.connect(server.port)
    client.send(b"GET /slow HTTP/1.1\r\n\r\nGET /fast HTTP/1.1\r\n\r\nGET /last HTTP/1.1\r\n\r\n")
    assert [(await client.reply())[2] for _ in range(3)] == [b"/slow", b"/fast", b"/last"]
    await client.close()


async def test_bodies_by_length_and_chunked(serve):
    server = await serve()
    client = await Client.connect(server.port)
    client.send(b"PUT /k HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello")
    assert (await client.reply())[2].endswith(b"b=hello")
    client.send(b"PUT /k HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n")
    assert (await client.reply())[2].endswith(b"b=abcdefg")
    await client.close()


async def test_expect_continue_gets_an_interim_reply(serve):
    server = await serve()
    client = await Client.connect(server.port)
    client.send(b"PUT /k HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
    assert (await client.reply())[0] == 100
    client.send(b"ok")
    assert (await client.reply())[2].endswith(b"b=ok")
    await client.close()


async def test_body_over_the_limit_is_refused_and_the_connection_closed(serve):
    server = await serve(max_body=10)
    client = await Client.connect(server.port)
    client.send(b"PUT /k HTTP/1.1\r\nContent-Length: 11\r\n\r\n")
    status, headers, body = await client.reply()
    assert status == 413 and b"too large" in body and headers["connection"] == "close"
    assert await client.closed()
    client = await Client.connect(server.port)  # chunked bodies are counted as they arrive
    client.send(b"PUT /k HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n"
                b"8\r\n12345678\r\n0\r\n\r\n")
    assert (await client.reply())[0] == 413
    assert await client.closed()


async def test_malformed_request_gets_400_and_close(serve):
    server = await serve()
    client = await Client.connect(server.port)
    client.send(b"GET / HTTP/1.1\r\n\r\nthis is not http\r\n\r\n")
    assert (await client.reply())[0] == 200  # what came before the garbage is answered
    status, _, body = await client.reply()
    assert status == 400 and body.startswith(b"Bad Request")
    assert await client.closed()


async def test_oversized_headers_get_431(serve):
    server = await serve()
    client = await Client.connect(server.port)
    client.send(b"GET / HTTP/1.1\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n")
    assert (await client.reply())[0] == 431
    assert await client.closed()


async def test_header_names_ignore_case_and_the_first_of_repeats_counts(serve, monkeypatch):
    """Names are looked up lower-cased however they were sent, also past the size of
    the server's memory of names (which forgets them all when full)."""
    monkeypatch.setattr(protocol, "MAX_HEADER_NAMES", 4)

    async def show(request: Request) -> Response:
        names = ("x-consul-token", "x-n0", "x-n9", "x-%s" % ("l" * 70))
        return Response(body=repr([request.headers.get(n) for n in names]).encode())

    server = await serve(show)
    client = await Client.connect(server.port)
    for token in (b"X-Consul-Token", b"x-consul-token", b"X-CONSUL-TOKEN", b"x-Consul-token"):
        client.send(b"GET / HTTP/1.1\r\n%s: first\r\nX-Consul-Token: second\r\n" % token
                    + b"".join(b"X-N%d: %d\r\n" % (i, i) for i in range(10))
                    + b"X-%s: long\r\n\r\n" % (b"L" * 70))
        assert (await client.reply())[2] == b"['first', '0', '9', 'long']", token
        assert len(protocol._HEADER_NAMES) <= 4
    await client.close()


async def test_connection_close_http10_and_head(serve):
    server = await serve()
    client = await Client.connect(server.port)
    client.send(b"GET /a HTTP/1.1\r\nConnection: close\r\n\r\n")
    status, headers, _ = await client.reply()
    assert status == 200 and headers["connection"] == "close"
    assert await client.closed()
    client = await Client.connect(server.port)
    client.send(b"GET /a HTTP/1.0\r\n\r\n")
    assert (await client.reply())[0] == 200
    assert await client.closed()
    client = await Client.connect(server.port)
    client.send(b"HEAD /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n")
    status, headers, _ = await client.reply(head_only=True)
    assert status == 200 and int(headers["content-length"]) > 0  # the length, not the body
    assert (await client.reply())[2].startswith(b"GET /b")
    await client.close()


async def test_stream_response_is_chunked(serve):
    async def stream(request: Request) -> StreamResponse:
        response = StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        for part in (b"one ", b"two ", b"three"):
            await response.write(part)
        return response

    server = await serve(stream)
    client = await Client.connect(server.port)
    client.send(b"GET / HTTP/1.1\r\n\r\n")
    status, headers, body = await client.reply()
    assert (status, headers["transfer-encoding"], body) == (200, "chunked", b"one two three")
    client.send(b"GET / HTTP/1.1\r\n\r\n")  # the connection is still usable
    assert (await client.reply())[2] == b"one two three"
    await client.close()


async def test_client_going_away_cancels_its_handler(serve):
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def block(request: Request) -> Response:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return Response()

    server = await serve(block)
    client = await Client.connect(server.port)
    client.send(b"GET / HTTP/1.1\r\n\r\n")
    await started.wait()
    await client.close()
    await asyncio.wait_for(cancelled.wait(), 5)


async def test_stop_lets_a_request_under_way_finish(serve):
    started, release = asyncio.Event(), asyncio.Event()

    async def wait_release(request: Request) -> Response:
        started.set()
        await release.wait()
        return Response(body=b"done")

    server = await serve(wait_release)
    client = await Client.connect(server.port)
    client.send(b"GET / HTTP/1.1\r\n\r\n")
    await started.wait()
    stopping = asyncio.create_task(server.stop(grace=5))
    await asyncio.sleep(0)
    release.set()
    status, headers, body = await client.reply()
    assert (status, body, headers["connection"]) == (200, b"done", "close")
    await stopping
    with pytest.raises(OSError):
        await Client.connect(server.port)


async def test_handler_bug_is_a_500_not_a_dropped_connection(serve):
    async def broken(request: Request) -> Response:
        raise RuntimeError("boom")

    server = await serve(broken)
    client = await Client.connect(server.port)
    client.send(b"GET / HTTP/1.1\r\n\r\n")
    assert (await client.reply())[0] == 500
    await client.close()


def test_router_literal_pattern_and_method_errors():
    router = Router()

    async def handler(request):  # pragma: no cover - never called
        return Response()

    router.add_get("/v1/kv/{key:.*}", handler, allow_head=False)
    router.add_put("/v1/kv/{key:.*}", handler)
    router.add_get("/v1/agent/service/{service_id}", handler)
    router.add_put("/v1/agent/service/register", handler)
    assert router.resolve("GET", "/v1/kv/a/b/")[1] == {"key": "a/b/"}
    assert router.resolve("GET", "/v1/agent/service/web")[1] == {"service_id": "web"}
    assert router.resolve("PUT", "/v1/agent/service/register")[2].canonical == \
        "/v1/agent/service/register"
    assert router.resolve("GET", "/v1/kv/x")[2].canonical == "/v1/kv/{key}"
    with pytest.raises(MethodNotAllowed) as err:
        router.resolve("HEAD", "/v1/kv/x")
    assert err.value.allowed == {"GET", "PUT"}
    with pytest.raises(MethodNotAllowed) as err:
        router.resolve("DELETE", "/v1/agent/service/register")
    assert err.value.allowed == {"PUT", "GET", "HEAD"}
    with pytest.raises(NotFound):
        router.resolve("GET", "/v1/agent/service/a/b")


def test_router_lists_its_routes_with_their_methods():
    router = Router()

    async def handler(request):  # pragma: no cover - never called
        return Response()

    router.add_get("/v1/kv/{key:.*}", handler, allow_head=False)
    router.add_put("/v1/kv/{key:.*}", handler)
    router.add_get("/v1/status/leader", handler)
    assert router.routes() == [("GET", "/v1/kv/{key}"), ("PUT", "/v1/kv/{key}"),
                               ("GET", "/v1/status/leader"), ("HEAD", "/v1/status/leader")]


def test_router_tries_patterns_with_a_short_literal_start_last():
    router = Router()

    async def first(request):  # pragma: no cover - never called
        return Response()

    async def second(request):  # pragma: no cover - never called
        return Response()

    router.add_get("/{version}/kv/{key:.*}", first)
    router.add_get("/v1/kv/{key:.*}", second)
    assert router.resolve("GET", "/v1/kv/a")[0] is second
    assert router.resolve("GET", "/v2/kv/a")[0] is first


async def test_pipelined_replies_leave_in_one_send_per_loop_turn(serve):
    server = await serve()
    client = await Client.connect(server.port)
    client.send(b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\nConnection: close"
                b"\r\n\r\n")
    replies = [await client.reply() for _ in range(3)]
    assert [body.split()[1] for _, _, body in replies] == [b"/a", b"/b", b"/c"]
    assert await client.closed()  # the close waited for the queued replies


async def test_a_client_over_its_connection_limit_gets_429_and_a_close(serve):
    limit = ConnLimit(2)
    first, second = await serve(conn_limit=limit), await serve(conn_limit=limit)
    held = [await Client.connect(first.port), await Client.connect(second.port)]
    request = b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n"
    for client in held:  # the cap counts across the servers sharing it
        client.send(request)
        assert (await client.reply())[0] == 200
    over = await Client.connect(first.port)
    over.send(request)
    status, headers, body = await over.reply()
    assert status == 429 and b"the limit is 2" in body and headers["connection"] == "close"
    assert await over.closed()
    await held.pop().close()
    while limit.open.get("127.0.0.1") != 1:  # the server sees the close on its next read
        await asyncio.sleep(0.01)
    again = await Client.connect(first.port)
    again.send(request)
    assert (await again.reply())[0] == 200
    await again.close()
    await held[0].close()


@pytest.mark.parametrize("query", [
    "", "stale", "stale&index=5", "a=b=c", "=x", "&&a&", "a=&b", "k=v&k=w", "dc=dc1&token=t",
    "a+b=c+d", "a=%20b", "x=%ff", "ü=ö&é", "sep=%2F&keys", "a=1;b=2", "\udcff=1",
])
def test_query_parameters_parse_like_parse_qsl(query):
    from urllib.parse import parse_qsl

    request = Request("GET", b"/", None, b"")  # type: ignore[arg-type]
    request.query_string = query
    assert list(request.query.items()) == parse_qsl(query, keep_blank_values=True)


async def test_idle_keep_alive_connections_are_swept_and_busy_ones_are_not(serve):
    release = asyncio.Event()

    async def slow(request: Request) -> Response:
        if request.path == "/slow":
            await release.wait()
        return Response(text="ok")

    server = await serve(slow, keepalive_timeout=0.2)
    idle, busy = await Client.connect(server.port), await Client.connect(server.port)
    for _ in range(3):  # one connection, several requests: served by its one task in turn
        idle.send(b"GET /fast HTTP/1.1\r\n\r\n")
        assert (await idle.reply())[0] == 200
    busy.send(b"GET /slow HTTP/1.1\r\n\r\n")
    assert await asyncio.wait_for(idle.closed(), 5)  # idle past the timeout: closed
    assert not busy.reader.at_eof()  # still waiting for its reply: kept
    release.set()
    assert (await busy.reply())[0] == 200
    assert await asyncio.wait_for(busy.closed(), 5)
    await idle.close()
    await busy.close()


class _SpoolFile(io.BytesIO):
    """A spool target that says when the server closed it."""

    def __init__(self) -> None:
        super().__init__()
        self.closed_event = asyncio.Event()

    def close(self) -> None:
        self.size = len(self.getvalue())
        super().close()
        self.closed_event.set()


async def test_a_spooled_body_goes_to_a_file_past_the_limit_and_is_closed_after(serve):
    files: list[_SpoolFile] = []

    def spool(method: str, target: bytes):
        if method == "PUT" and target.startswith(b"/upload"):
            files.append(_SpoolFile())
            return files[-1]
        return None

    async def handler(request: Request) -> Response:
        if request.body_file is None:
            return Response(body=b"memory:" + await request.read())
        return Response(body=b"file:%d" % len(request.body_file.read()))

    server = await serve(handler, max_body=10, body_spool=spool)
    client = await Client.connect(server.port)
    client.send(b"PUT /upload?x HTTP/1.1\r\nContent-Length: 100000\r\n\r\n" + b"a" * 100000)
    assert (await client.reply())[2] == b"file:100000"
    client.send(b"PUT /upload HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n")
    assert (await client.reply())[2] == b"file:16"
    client.send(b"PUT /other HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc")
    assert (await client.reply())[2] == b"memory:abc"
    assert len(files) == 2 and all(f.closed for f in files)
    client.send(b"PUT /upload HTTP/1.1\r\nContent-Length: 100\r\n\r\npartial")
    await client.close()  # cut short: the spooled file is closed with the connection
    await asyncio.wait_for(files[-1].closed_event.wait(), 5)
    assert len(files) == 3 and files[-1].size == 7


async def test_the_spool_is_asked_only_about_targets_under_its_prefix(serve):
    asked: list[tuple[str, bytes]] = []

    def spool(method: str, target: bytes):
        asked.append((method, target))
        return _SpoolFile() if target == b"/upload/big" else None

    async def handler(request: Request) -> Response:
        where = b"memory" if request.body_file is None else b"file"
        return Response(body=where + b":" + await request.read())

    server = await serve(handler, body_spool=spool, spool_prefix=b"/upload")
    client = await Client.connect(server.port)
    for target in (b"/other", b"/upload/big", b"/uploa", b"/upload?x"):
        client.send(b"PUT %s HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc" % target)
        await client.reply()
    assert asked == [("PUT", b"/upload/big"), ("PUT", b"/upload?x")]
    await client.close()


async def test_a_burst_of_replies_leaves_before_the_last_is_made(serve):
    """Replies made in one loop turn are sent once MAX_UNFLUSHED connections wait, not
    all at its end (blocking queries woken together: the first must not wait for the last)."""
    loop = asyncio.get_running_loop()
    gate, all_waiting = loop.create_future(), asyncio.Event()
    waiting: list[int] = []
    unsent_before: list[int] = []
    clients_n = protocol.MAX_UNFLUSHED * 2 + 10

    async def handler(request: Request) -> Response:
        waiting.append(1)
        if len(waiting) == clients_n:
            all_waiting.set()
        await gate
        unsent_before.append(len(server._unflushed))
        return Response(body=b"ok")

    server = await serve(handler)
    clients = [await Client.connect(server.port) for _ in range(clients_n)]
    for client in clients:
        client.send(b"GET / HTTP/1.1\r\n\r\n")
    await all_waiting.wait()
    gate.set_result(None)  # every handler goes on in the same loop turn
    assert [(await c.reply())[2] for c in clients] == [b"ok"] * clients_n
    assert max(unsent_before) < protocol.MAX_UNFLUSHED
    for client in clients:
        await client.close()
async def test_quick_handler_answers_in_order_with_the_general_one(serve):
    """Quick answers leave at once, yet never overtake a general reply still being made;
    a quick handler that declines or fails leaves the request to the general handler."""
    release = asyncio.Event()
    quick_seen = []

    def quick(request: Request) -> EncodedResponse | None:
        quick_seen.append(request.path)
        if request.path == "/boom":
            raise RuntimeError("quick bug")
        if not request.path.startswith("/q"):
            return None
        return EncodedResponse(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n" % len(request.path),
                               request.path.encode())

    async def general(request: Request) -> Response:
        if request.path == "/slow":
            await release.wait()
        return Response(body=b"general " + request.path.encode())

    server = await serve(general, quick=quick)
    client = await Client.connect(server.port)
    client.send(b"GET /q1 HTTP/1.1\r\n\r\n")
    assert (await client.reply())[2] == b"/q1"
    client.send(b"GET /slow HTTP/1.1\r\n\r\nGET /q2 HTTP/1.1\r\n\r\n")
    release.set()
    assert (await client.reply())[2] == b"general /slow"
    assert (await client.reply())[2] == b"general /q2"  # queued behind /slow
    client.send(b"GET /boom HTTP/1.1\r\n\r\nGET /q3 HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert (await client.reply())[2] == b"general /boom"
    status, headers, body = await client.reply()
    assert body == b"general /q3" and headers["connection"] == "close"
    assert await client.closed()
    assert quick_seen == ["/q1", "/slow", "/boom"]  # /q2 and /q3 came while busy
    client = await Client.connect(server.port)
    client.send(b"GET /q4 HTTP/1.1\r\nConnection: close\r\n\r\n")
    status, headers, body = await client.reply()
    assert body == b"/q4" and headers["connection"] == "close"
    assert await client.closed()
    await client.close()


async def test_quick_answers_keep_a_connection_from_being_swept(serve):
    def quick(request: Request) -> EncodedResponse:
        return EncodedResponse(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", b"ok")

    server = await serve(quick=quick, keepalive_timeout=0.4)
    client = await Client.connect(server.port)
    for _ in range(8):  # busy for longer than the timeout, through quick answers only
        client.send(b"GET / HTTP/1.1\r\n\r\n")
        assert (await client.reply())[2] == b"ok"
        await asyncio.sleep(0.1)
    assert not client.reader.at_eof()
    assert await asyncio.wait_for(client.closed(), 5)  # then idle: swept
    await client.close()


async def test_a_pending_quick_answer_holds_the_requests_behind_it(serve):
    """A quick answer made when a future is done (Pending) still leaves in order: requests
    arriving meanwhile wait, then the general handler answers them."""
    loop = asyncio.get_running_loop()
    futures: list[asyncio.Future] = []
    arrived = asyncio.Event()

    def quick(request: Request) -> Pending | None:
        if request.path != "/later":
            return None
        futures.append(loop.create_future())
        arrived.set()
        return Pending(futures[-1], lambda done: Response(body=b"later " + done.result()))

    async def general(request: Request) -> Response:
        return Response(body=b"general " + request.path.encode())

    server = await serve(general, quick=quick)
    client = await Client.connect(server.port)
    client.send(b"GET /later HTTP/1.1\r\n\r\nGET /next HTTP/1.1\r\n\r\n")
    await arrived.wait()
    arrived.clear()
    futures[0].set_result(b"one")
    assert (await client.reply())[2] == b"later one"
    assert (await client.reply())[2] == b"general /next"
    client.send(b"GET /later HTTP/1.1\r\nConnection: close\r\n\r\n")
    await arrived.wait()
    futures[1].set_exception(RuntimeError("boom"))  # finish() raises: a 500, then the close
    status, headers, _ = await client.reply()
    assert status == 500 and headers["connection"] == "close"
    assert await client.closed()
    await client.close()
