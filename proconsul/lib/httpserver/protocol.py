"""The HTTP/1.1 server: a connection protocol on httptools' parser, and the listener.

Each connection parses requests as bytes arrive and answers them in order,
one at a time (pipelined requests wait their turn, and reading pauses if
too many wait). Bodies are read whole before the handler runs and are
capped, except those the server's ``body_spool`` takes: they go to a file
as they arrive, uncapped (for uploads as big as a snapshot). A request the
server cannot take gets a one-line error and the connection closes.

Replies are not sent the moment they are ready: a connection's output is
gathered and every connection with some is flushed once per event-loop
turn, in one send each. Under load this wakes the clients once per burst
instead of once per reply, which on this machine's virtual CPUs is worth
half the cost of a small request. A burst is flushed early once
``MAX_UNFLUSHED`` connections wait, so that when thousands of replies are
made in one turn (blocking queries woken together) the first ones leave
without waiting for the last.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import ssl as ssl_module
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, BinaryIO

import httptools

from proconsul.lib.httpserver.connlimit import ConnLimit
from proconsul.lib.httpserver.message import (
    EncodedResponse,
    Headers,
    Pending,
    Request,
    Response,
    StreamResponse,
    encode_response,
    encode_response_parts,
)

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 1 << 20  # Go's http.DefaultMaxHeaderBytes
MAX_PIPELINED = 16  # queued requests per connection before reading pauses
MAX_UNFLUSHED = 64  # connections with output waiting before the burst is sent early
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"

AppHandler = Callable[[Request], Awaitable["Response | StreamResponse | EncodedResponse"]]
QuickHandler = Callable[[Request], "Response | EncodedResponse | Pending | None"]
"""A handler that answers some requests without a task: at once, or when a future is
done (:class:`Pending`); None: not one of its requests."""
BodySpool = Callable[[str, bytes], "BinaryIO | None"]
"""``spool(method, target)``: a file to stream this request's body into, or None. Asked
only for targets that start with the server's ``spool_prefix``."""


# header names as sent -> lower-cased, for the short names met lately (the few every
# client sends): saves decoding and lower-casing them again, and hashing the result
_HEADER_NAMES: dict[bytes, str] = {}
MAX_HEADER_NAMES = 256  # then it is emptied and fills again
MAX_KEPT_NAME = 64


def _lowered(name: bytes) -> str:
    lowered = name.decode("latin-1").lower()
    if len(name) <= MAX_KEPT_NAME:
        if len(_HEADER_NAMES) >= MAX_HEADER_NAMES:
            _HEADER_NAMES.clear()
        _HEADER_NAMES[name] = lowered
    return lowered


class _Reject(Exception):
    """A request the server refuses before its handler runs."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.response = Response(status=status, text=message)


class HttpProtocol(asyncio.Protocol):
    """One client connection."""

    def __init__(self, server: HttpServer):
        self._server = server
        self._loop = server.loop
        self._parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self._queue: deque[Request | _Reject] = deque()
        # One serving task per connection, started by its first request; between
        # requests it waits on ``_wakeup`` (cheaper than a task per request).
        self._task: asyncio.Task[None] | None = None
        self._serving = False  # the task is answering (or has queued requests to answer)
        self._wakeup: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._writing_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._output: list[bytes] = []
        self._close_after_flush = False
        self.idle_since = self._loop.time()
        self._refused = False
        self._client_ip: str | None = None  # counted against the server's ConnLimit
        self._over_limit = False
        self._start_message()

    # ---------------------------------------------------------------- connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._server.connections.add(self)
        limit = self._server.conn_limit
        peer = transport.get_extra_info("peername")
        if limit is not None and isinstance(peer, tuple):
            if limit.acquire(peer[0]):
                self._client_ip = peer[0]
            else:  # its first request gets a 429, then the connection closes
                self._over_limit = True

    def connection_lost(self, exc: Exception | None) -> None:
        if self._body_file is not None:
            self._body_file.close()  # a spooled upload cut short
            self._body_file = None
        self._server.connections.discard(self)
        if self._client_ip is not None and self._server.conn_limit is not None:
            self._server.conn_limit.release(self._client_ip)
            self._client_ip = None
        self.transport = None
        self._queue.clear()
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._wake_writers(ConnectionResetError("the client closed the connection"))

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._wake_writers(None)

    def _wake_writers(self, error: Exception | None) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                if error is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(error)

    @property
    def busy(self) -> bool:
        return self._serving or bool(self._queue)

    def write(self, data: bytes) -> None:
        """Queue ``data``; it goes out at the end of this loop turn."""
        if self.transport is None:
            raise ConnectionResetError("the client closed the connection")
        self._output.append(data)
        if len(self._output) == 1:
            self._server.flush_soon(self)

    async def write_and_drain(self, data: bytes) -> None:
        self.write(data)
        self.flush()
        if self._writing_paused:
            waiter = self._loop.create_future()
            self._drain_waiters.append(waiter)
            await waiter

    def flush(self) -> None:
        """Send the queued output in one write (and close, if asked to)."""
        output, transport = self._output, self.transport
        if transport is None:
            output.clear()
            return
        if output:
            if len(output) == 1:
                transport.write(output[0])
            else:
                transport.writelines(output)  # no joined copy of big bodies
            output.clear()
        if self._close_after_flush:
            transport.close()

    def close(self) -> None:
        """Close once the queued output is sent."""
        if self.transport is None:
            return
        if self._output:
            self._close_after_flush = True
        else:
            self.transport.close()

    # ---------------------------------------------------------------- parsing

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # the parser stopped at a bad request; its error reply is queued
        try:
            self._parser.feed_data(data)
        except _Reject as reject:
            self._refuse(reject)
        except httptools.HttpParserUpgrade:
            self._refused = True  # the request is queued; protocol upgrades are not served
        except httptools.HttpParserError as err:
            cause = err.__context__
            self._refuse(cause if isinstance(cause, _Reject)
                         else _Reject(400, f"Bad Request: {err}"))

    def _refuse(self, reject: _Reject) -> None:
        self._refused = True
        self._enqueue(reject)

    def _start_message(self) -> None:
        """A new message's state (httptools is given no ``on_message_begin``: the state is
        set here at first and again as each message completes, one call less each)."""
        self._url = b""
        self._headers = Headers()
        self._header_bytes = 0
        self._body: list[bytes] = []
        self._body_bytes = 0
        self._body_file: BinaryIO | None = None

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._header_bytes += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > MAX_HEADER_BYTES:
            raise _Reject(431, "Request Header Fields Too Large")
        lowered = _HEADER_NAMES.get(name)
        if lowered is None:
            lowered = _lowered(name)
        self._headers.setdefault(lowered, value.decode("latin-1"))

    def on_headers_complete(self) -> None:
        if self._over_limit:
            raise _Reject(429, "Too many concurrent connections from this client address; "
                               f"the limit is {self._server.conn_limit.limit}")
        spool = self._server.body_spool
        if spool is not None and self._url.startswith(self._server.spool_prefix):
            self._body_file = spool(self._parser.get_method().decode("ascii", "replace"),
                                    self._url)
        limit = self._server.max_body
        headers = self._headers  # lower-cased names: plain dict lookups
        length = dict.get(headers, "content-length")
        if self._body_file is not None:
            length = None
        if length is not None and length.isdigit() and int(length) > limit:
            raise _Reject(413, f"Request body too large: {int(length)} bytes, "
                               f"the limit is {limit} bytes")
        expect = dict.get(headers, "expect")
        if expect is not None and expect.lower() == "100-continue" and not self.busy:
            self.write(CONTINUE)

    def on_body(self, body: bytes) -> None:
        if self._body_file is not None:
            self._body_file.write(body)
            return
        self._body_bytes += len(body)
        if self._body_bytes > self._server.max_body:
            raise _Reject(413, f"Request body too large: the limit is "
                               f"{self._server.max_body} bytes")
        self._body.append(body)

    def on_message_complete(self) -> None:
        parser, parts = self._parser, self._body
        body = parts[0] if len(parts) == 1 else b"".join(parts)
        request = Request(parser.get_method().decode("ascii", "replace"), self._url,
                          self._headers, body, parser.should_keep_alive(), self._server.app,
                          self)  # positional: no keyword names to match
        body_file = self._body_file
        # _start_message(), inlined: the next message starts afresh
        self._url, self._headers, self._header_bytes = b"", Headers(), 0
        self._body, self._body_bytes, self._body_file = [], 0, None
        if body_file is not None:
            body_file.seek(0)
            request.body_file = body_file
        elif (self._server.quick is not None and not self._serving and not self._queue
              and self.transport is not None):
            # The server's quick handler is offered it: the connection had nothing else
            # to answer before it, so the order of replies holds.
            try:
                response = self._server.quick(request)
            except Exception:
                log.exception("unhandled error in the quick handler for %s %s",
                              request.method, request.path)
                response = None  # the general handler answers it
            if type(response) is Pending:
                self._serving = True  # requests arriving meanwhile queue behind this one
                response.future.add_done_callback(
                    functools.partial(self._answer_later, request, response.finish))
                return
            if response is not None:
                self._send_quick(request, response)
                return
        self._enqueue(request)

    def _answer_later(self, request: Request, finish: Callable[[asyncio.Future[Any]], Any],
                      future: asyncio.Future[Any]) -> None:
        if self.transport is None:
            return
        try:
            response = finish(future)
        except Exception:
            log.exception("unhandled error serving %s %s", request.method, request.path)
            response = Response(status=500, text="internal error")
        self._serving = False
        if self._send_quick(request, response) and self._queue:
            self._start_serving()
        elif not self._queue and self._server.closing:
            self._server.check_drained()

    def _send_quick(self, request: Request, response: Response | EncodedResponse) -> bool:
        """Write a quick handler's answer; whether the connection stays open."""
        server = self._server
        keep_alive = request.keep_alive and not server.closing
        if type(response) is EncodedResponse and keep_alive:  # encode_response, inlined
            data = response.head + b"\r\n" + response.body
        else:
            data = encode_response(response, keep_alive)
        # write(), inlined (the transport is there: the caller checked)
        output = self._output
        output.append(data)
        if len(output) == 1:  # flush_soon(), inlined
            unflushed = server._unflushed
            if not unflushed:
                self._loop.call_soon(server._flush)
            unflushed.append(self)
            if len(unflushed) >= MAX_UNFLUSHED:
                server._flush()
        self.idle_since = self._loop.time()
        if not keep_alive:
            self._queue.clear()
            self.close()
        return keep_alive

    # ---------------------------------------------------------------- serving

    def _enqueue(self, item: Request | _Reject) -> None:
        if self.transport is None:
            return
        self._queue.append(item)
        if not self._serving:
            self._start_serving()
        elif len(self._queue) >= MAX_PIPELINED and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()

    def _start_serving(self) -> None:
        """Have the serving task answer the queue (started, or woken from its wait)."""
        self._serving = True
        wakeup = self._wakeup
        if self._task is None:
            self._task = self._loop.create_task(self._serve())
        elif wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    async def _serve(self) -> None:
        try:
            while self.transport is not None:
                if not self._queue:
                    self._idle()
                    self._wakeup = self._loop.create_future()
                    await self._wakeup
                    continue
                item = self._queue.popleft()
                if self._reading_paused and len(self._queue) < MAX_PIPELINED // 2:
                    self._reading_paused = False
                    self.transport.resume_reading()
                if isinstance(item, _Reject):
                    self.write(encode_response(item.response, keep_alive=False))
                    self.close()
                    return
                # The handler is awaited here, not in a helper coroutine: one frame less
                # to pass through each time a request waits.
                try:
                    response = await self._server.handler(item)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("unhandled error serving %s %s", item.method, item.path)
                    response = Response(status=500, text="internal error")
                finally:
                    if item.body_file is not None:
                        item.body_file.close()
                if self.transport is None:
                    return
                keep_alive = item.keep_alive and not self._server.closing
                if isinstance(response, StreamResponse):
                    await self._finish_stream(item, response)
                else:
                    head, body = encode_response_parts(response, keep_alive,
                                                       item.method == "HEAD")
                    self.write(head)
                    if body:
                        self.write(body)
                if not keep_alive:
                    self.close()
                    return
        finally:
            self._task = self._wakeup = None
            self._idle()

    def _idle(self) -> None:
        self._serving = False
        self.idle_since = self._loop.time()
        if self._server.closing:
            self._server.check_drained()

    @staticmethod
    async def _finish_stream(request: Request, response: StreamResponse) -> None:
        if not response.prepared:
            await response.prepare(request)
        await response.write_eof()


class HttpServer:
    """Listens and serves ``handler`` on every connection; ``app`` is shared by requests.

    With ``conn_limit``, a client over its cap of open connections gets a 429. A
    ``quick`` handler is offered each request first, when its connection has none
    waiting: what it answers is answered in the parser's callback, without a task.
    ``body_spool`` is asked about the requests whose target starts with
    ``spool_prefix`` (a bytes prefix test is cheaper than a call per request)."""

    def __init__(self, handler: AppHandler, app: dict[str, Any] | None = None, *,
                 max_body: int = 16 << 20, keepalive_timeout: float = 75.0,
                 conn_limit: ConnLimit | None = None, body_spool: BodySpool | None = None,
                 quick: QuickHandler | None = None, spool_prefix: bytes = b""):
        self.handler = handler
        self.quick = quick
        self.body_spool = body_spool
        self.spool_prefix = spool_prefix
        self.conn_limit = conn_limit
        self.app: dict[str, Any] = app if app is not None else {}
        self.max_body = max_body
        self.keepalive_timeout = keepalive_timeout
        self.connections: set[HttpProtocol] = set()
        self.closing = False
        self.loop = asyncio.get_running_loop()
        self._listener: asyncio.Server | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._drained = asyncio.Event()
        self._unflushed: list[HttpProtocol] = []
        self.port = 0  # the bound port, once started

    async def start(self, host: str, port: int, ssl: ssl_module.SSLContext | None = None,
                    ssl_handshake_timeout: float | None = None) -> None:
        """Listen on ``host:port``; with ``ssl``, HTTPS (handshakes limited to the timeout)."""
        self._listener = await self.loop.create_server(
            lambda: HttpProtocol(self), host, port, reuse_address=True, backlog=1024,
            ssl=ssl, ssl_handshake_timeout=ssl_handshake_timeout if ssl else None)
        self.port = self._listener.sockets[0].getsockname()[1]
        self._schedule_sweep()

    async def start_unix(self, path: str, ssl: ssl_module.SSLContext | None = None,
                         ssl_handshake_timeout: float | None = None) -> None:
        """Listen on the Unix socket ``path`` (which must not exist)."""
        self._listener = await self.loop.create_unix_server(
            lambda: HttpProtocol(self), path, backlog=1024, ssl=ssl,
            ssl_handshake_timeout=ssl_handshake_timeout if ssl else None)
        self._schedule_sweep()

    def _schedule_sweep(self) -> None:
        self._sweeper = self.loop.call_later(self.keepalive_timeout / 4, self._sweep)

    def _sweep(self) -> None:
        """Close keep-alive connections idle for longer than the timeout."""
        deadline = self.loop.time() - self.keepalive_timeout
        for connection in list(self.connections):
            if not connection.busy and connection.idle_since < deadline:
                connection.close()
        self._schedule_sweep()

    def flush_soon(self, connection: HttpProtocol) -> None:
        """Have ``connection``'s output sent at the end of this loop turn."""
        unflushed = self._unflushed
        if not unflushed:
            self.loop.call_soon(self._flush)
        unflushed.append(connection)
        if len(unflushed) >= MAX_UNFLUSHED:
            self._flush()

    def _flush(self) -> None:
        connections, self._unflushed = self._unflushed, []
        for connection in connections:
            output, transport = connection._output, connection.transport
            if (len(output) == 1 and transport is not None
                    and not connection._close_after_flush):  # flush(), inlined: one reply
                transport.write(output[0])
                output.clear()
            else:
                connection.flush()

    def check_drained(self) -> None:
        if not any(c.busy for c in self.connections):
            self._drained.set()

    async def stop(self, grace: float = 1.0) -> None:
        """Stop listening, let requests under way finish for ``grace`` seconds, then close."""
        self.closing = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._listener is not None:
            self._listener.close()
        for connection in list(self.connections):
            if not connection.busy:
                connection.close()
        self.check_drained()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await self._drained.wait()
        for connection in list(self.connections):
            connection.close()
        if self._listener is not None:
            await self._listener.wait_closed()
