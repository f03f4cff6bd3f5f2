"""HTTP/1.1 requests and responses as handlers see them, and the bytes a response becomes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from email.utils import formatdate
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import parse_qsl, unquote

import msgspec
from multidict import MultiDict, MultiDictProxy

if TYPE_CHECKING:
    from proconsul.lib.httpserver.protocol import HttpProtocol

_STATUS_LINES = {s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n" for s in HTTPStatus}
_NO_QUERY: MultiDictProxy[str] = MultiDictProxy(MultiDict())


def parse_query(query: str) -> list[tuple[str, str]]:
    """``parse_qsl(query, keep_blank_values=True)``, without its cost for plain queries."""
    if "%" in query or "+" in query:
        return parse_qsl(query, keep_blank_values=True)
    pairs = []
    for part in query.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((name, value))
    return pairs


class Headers(dict[str, str]):
    """Request headers by lower-cased name (the first of repeated ones, as Go's Header.Get)."""

    __slots__ = ()

    def __getitem__(self, name: str) -> str:
        return dict.__getitem__(self, name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and dict.__contains__(self, name.lower())

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return dict.get(self, name.lower(), default)


class Request:
    """One parsed request with its whole body; ``app`` is the server's shared mapping."""

    __slots__ = ("method", "path", "query_string", "keep_alive", "app", "match_info",
                 "route", "headers", "body_file", "_query", "_body", "_protocol")

    def __init__(self, method: str, target: bytes, headers: Headers, body: bytes,
                 keep_alive: bool = True, app: dict[str, Any] | None = None,
                 protocol: HttpProtocol | None = None):
        path, _, query = target.decode("utf-8", "surrogateescape").partition("?")
        self.method = method
        # Bytes that are not UTF-8 stay distinct (as lone surrogates) for the handler to refuse.
        self.path = unquote(path, errors="surrogateescape") if "%" in path else path
        self.query_string = query
        self.keep_alive = keep_alive
        self.app: dict[str, Any] = app if app is not None else {}
        self.match_info: dict[str, str] = {}
        self.route: str | None = None  # the matched route pattern, e.g. "/v1/kv/{key}"
        self.headers = headers
        self.body_file: BinaryIO | None = None  # the body, if the server spooled it to a file
        self._query: MultiDictProxy[str] | None = None
        self._body = body
        self._protocol = protocol

    @property
    def query(self) -> MultiDictProxy[str]:
        """The query string's parameters; ``?stale`` is present with the value ``""``."""
        query = self._query
        if query is None:
            query = self._query = (MultiDictProxy(MultiDict(parse_query(self.query_string)))
                                   if self.query_string else _NO_QUERY)
        return query

    @property
    def path_qs(self) -> str:
        return f"{self.path}?{self.query_string}" if self.query_string else self.path

    @property
    def remote(self) -> str | None:
        """The client's IP address."""
        if self._protocol is None or self._protocol.transport is None:
            return None
        peer = self._protocol.transport.get_extra_info("peername")
        return peer[0] if peer else None

    @property
    def transport(self) -> asyncio.Transport | None:
        return self._protocol.transport if self._protocol is not None else None

    async def read(self) -> bytes:
        """The whole body (already received; the server caps its size)."""
        return self._body


class Response:
    """A complete reply: status, headers and body."""

    __slots__ = ("status", "body", "headers")

    def __init__(self, *, body: bytes | None = None, status: int = 200, text: str | None = None,
                 content_type: str | None = None, headers: dict[str, str] | None = None):
        self.status = status
        self.headers: dict[str, str] = dict(headers) if headers else {}
        if text is not None:
            self.body = text.encode()
            content_type = content_type or "text/plain"
            if "charset" not in content_type:
                content_type += "; charset=utf-8"
        else:
            self.body = body or b""
        if content_type is not None:
            self.headers.setdefault("Content-Type", content_type)


class StreamResponse:
    """A reply written in pieces (chunked); ``prepare`` sends the head."""

    def __init__(self, *, status: int = 200, headers: dict[str, str] | None = None):
        self.status = status
        self.headers: dict[str, str] = dict(headers) if headers else {}
        self._protocol: HttpProtocol | None = None
        self._finished = False

    @property
    def prepared(self) -> bool:
        return self._protocol is not None

    async def prepare(self, request: Request) -> None:
        protocol = request._protocol
        if protocol is None:
            raise ConnectionResetError("the request has no connection")
        self._protocol = protocol
        self.headers["Transfer-Encoding"] = "chunked"
        protocol.write(encode_head(self.status, self.headers, None, request.keep_alive))

    async def write(self, data: bytes) -> None:
        if self._protocol is None:
            raise RuntimeError("write before prepare")
        if data:
            await self._protocol.write_and_drain(b"%x\r\n%b\r\n" % (len(data), data))

    async def write_eof(self) -> None:
        if self._protocol is not None and not self._finished:
            self._finished = True
            self._protocol.write(b"0\r\n\r\n")


class EncodedResponse(msgspec.Struct, gc=False):
    """A reply already in bytes: the status line and headers (without the blank line
    that ends the head; the server adds it, with ``Connection: close`` if it closes)
    and the body. (A struct: made in C, without a Python ``__init__`` frame.)"""

    head: bytes
    body: bytes


class Pending(msgspec.Struct):
    """A quick handler's answer that is not ready yet: once ``future`` is done,
    ``finish(future)`` makes the response (see :class:`HttpServer`'s ``quick``)."""

    future: asyncio.Future[Any]
    finish: Callable[[asyncio.Future[Any]], Response | EncodedResponse]


class _Date:
    """The Date header's value, formatted once a second."""

    second = -1
    value = ""
    line = ""  # "Date: <value>\r\n"
    line_bytes = b""

    @classmethod
    def now(cls) -> str:
        second = int(time.time())
        if second != cls.second:
            cls.second, cls.value = second, formatdate(second, usegmt=True)
            cls.line = f"Date: {cls.value}\r\n"
            cls.line_bytes = cls.line.encode()
        return cls.value


def date_line() -> bytes:
    """``Date: <now>\r\n``."""
    if int(time.time()) != _Date.second:  # _Date.now() only once a second
        _Date.now()
    return _Date.line_bytes


def encode_head(status: int, headers: dict[str, str], length: int | None,
                keep_alive: bool) -> bytes:
    """Status line and headers; ``length`` None means the headers already frame the body."""
    _Date.now()
    parts = [_STATUS_LINES.get(status) or f"HTTP/1.1 {status} Unknown\r\n", _Date.line]
    parts += [f"{name}: {value}\r\n" for name, value in headers.items()]
    if length is not None:
        parts.append(f"Content-Length: {length}\r\n")
    parts.append("\r\n" if keep_alive else "Connection: close\r\n\r\n")
    return "".join(parts).encode("utf-8", "surrogateescape")


BIG_BODY = 64 << 10  # bodies this big are sent after the head, not copied behind it


def encode_response(response: Response | EncodedResponse, keep_alive: bool,
                    head_only: bool = False) -> bytes:
    """The whole reply as bytes (no body under HEAD, Content-Length kept)."""
    if type(response) is EncodedResponse:
        end = b"\r\n" if keep_alive else b"Connection: close\r\n\r\n"
        return response.head + end if head_only else response.head + end + response.body
    head, body = encode_response_parts(response, keep_alive, head_only)
    return head + body if body else head


def encode_response_parts(response: Response | EncodedResponse, keep_alive: bool,
                          head_only: bool = False) -> tuple[bytes, bytes]:
    """The reply as head and body; a small body comes joined to the head (one buffer),
    a big one apart (no copy of it: many replies may share one body)."""
    if type(response) is EncodedResponse:
        return encode_response(response, keep_alive, head_only), b""
    status, body = response.status, response.body
    if status < 200 or status in (204, 304):
        return encode_head(status, response.headers, None, keep_alive), b""
    head = encode_head(status, response.headers, len(body), keep_alive)
    if head_only or not body:
        return head, b""
    return (head, body) if len(body) >= BIG_BODY else (head + body, b"")
