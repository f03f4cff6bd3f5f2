"""msgpack-RPC as Consul speaks it (net/rpc + net-rpc-msgpackrpc).

A request is the msgpack map ``{Seq, ServiceMethod}`` immediately followed by
the msgpack args; a response is ``{Error, Seq, ServiceMethod}`` followed by
the reply (an empty map when ``Error`` is set).  Nothing is length-prefixed,
so :class:`MsgpackReader` frames values with an incremental scanner -- after
first trying to decode a read as exactly one header and body, which it
nearly always is.  Header keys are written in Go's sorted order so the
bytes match Consul's.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from proconsul.rpc.conn import Conn
from proconsul.rpc.errors import RPCConnectionError, RPCError, RPCProtocolError
from proconsul.structs.errors import ConsulError

__all__ = [
    "MAX_MESSAGE_SIZE",
    "ClientCodec",
    "MsgpackReader",
    "RPCServer",
    "RequestHeader",
    "ResponseHeader",
    "ValueScanner",
]

log = logging.getLogger(__name__)

MAX_MESSAGE_SIZE = 64 << 20
EMPTY_BODY = b"\x80"
# msgspec bounds nesting by Python's recursion limit and raises RecursionError past it.
ERR_TOO_DEEP = "msgpack value nested too deeply"

_encoder = msgspec.msgpack.Encoder()


class RequestHeader(msgspec.Struct):
    """net/rpc ``Request``; fields in Go's (sorted) wire order."""

    Seq: int = 0
    ServiceMethod: str = ""


class ResponseHeader(msgspec.Struct):
    """net/rpc ``Response``; fields in Go's (sorted) wire order."""

    Error: str = ""
    Seq: int = 0
    ServiceMethod: str = ""


# A message is two msgpack values; behind a fixarray-of-2 byte they decode as one.
_PAIR = b"\x92"
_request_decoder = msgspec.msgpack.Decoder(tuple[RequestHeader, msgspec.Raw])
_response_decoder = msgspec.msgpack.Decoder(tuple[ResponseHeader, msgspec.Raw])
_reply_decoders: dict[Any, msgspec.msgpack.Decoder] = {}

# Bytes after the type byte: fixed payload size, or (size-field width) for
# length-prefixed str/bin/ext; ext adds a type byte.
_FIXED = {
    0xC0: 0, 0xC2: 0, 0xC3: 0,
    0xCA: 4, 0xCB: 8,
    0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8,
    0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8,
    0xD4: 2, 0xD5: 3, 0xD6: 5, 0xD7: 9, 0xD8: 17,
}  # fmt: skip
_SIZED = {0xC4: 1, 0xC5: 2, 0xC6: 4, 0xD9: 1, 0xDA: 2, 0xDB: 4, 0xC7: 1, 0xC8: 2, 0xC9: 4}
_EXT = {0xC7, 0xC8, 0xC9}
_ARRAY = {0xDC: 2, 0xDD: 4}
_MAP = {0xDE: 2, 0xDF: 4}


class ValueScanner:
    """Finds where one msgpack value ends in a growing buffer.

    State survives between calls, so feeding a large value in small pieces
    stays linear.  Values larger than ``max_size`` are rejected as soon as
    that is certain.
    """

    def __init__(self, max_size: int = MAX_MESSAGE_SIZE) -> None:
        self.max_size = max_size
        self._pos = 0
        self._pending = 1

    def scan(self, buf: bytes | bytearray) -> int | None:
        """Return the end offset of the value starting at ``buf[0]``, or
        ``None`` if more bytes are needed.  Raises :class:`RPCProtocolError`."""
        pos, pending, end = self._pos, self._pending, len(buf)
        while pending:
            if pos >= end:
                break
            b = buf[pos]
            pending -= 1
            if b <= 0x7F or b >= 0xE0:
                pos += 1
            elif b <= 0x8F:
                pos += 1
                pending += 2 * (b & 0x0F)
            elif b <= 0x9F:
                pos += 1
                pending += b & 0x0F
            elif b <= 0xBF:
                pos += 1 + (b & 0x1F)
            elif b in _FIXED:
                pos += 1 + _FIXED[b]
            elif b in _SIZED:
                width = _SIZED[b]
                if pos + 1 + width > end:
                    pending += 1
                    break
                size = int.from_bytes(buf[pos + 1 : pos + 1 + width], "big")
                pos += 1 + width + size + (1 if b in _EXT else 0)
            elif b in _ARRAY or b in _MAP:
                width = _ARRAY.get(b) or _MAP[b]
                if pos + 1 + width > end:
                    pending += 1
                    break
                count = int.from_bytes(buf[pos + 1 : pos + 1 + width], "big")
                pos += 1 + width
                pending += count * (2 if b in _MAP else 1)
            else:
                raise RPCProtocolError(f"invalid msgpack byte 0x{b:02x}")
            if pos + pending > self.max_size:
                raise RPCProtocolError(f"msgpack value exceeds {self.max_size} bytes")
        self._pos, self._pending = pos, pending
        if pending or pos > end:
            return None
        self._pos, self._pending = 0, 1
        return pos


class MsgpackReader:
    """Reads whole msgpack values, one at a time, from a :class:`Conn`."""

    def __init__(self, conn: Conn, max_size: int = MAX_MESSAGE_SIZE) -> None:
        self._conn = conn
        self._buf = bytearray()
        self._scanner = ValueScanner(max_size)

    async def read_value(self) -> bytes | None:
        """The next value's bytes; ``None`` on a clean EOF between values."""
        while True:
            end = self._scanner.scan(self._buf)
            if end is not None:
                value = bytes(self._buf[:end])
                del self._buf[:end]
                return value
            data = await self._conn.read()
            if not data:
                if self._buf:
                    raise RPCConnectionError("connection closed mid-message")
                return None
            self._buf += data

    def take_buffered(self) -> bytes:
        """What was read past the last value (the start of any raw bytes after it)."""
        data, self._buf = bytes(self._buf), bytearray()
        return data

    async def read_message(self, decoder: msgspec.msgpack.Decoder) -> tuple[Any, msgspec.Raw] | None:
        """The next header (decoded) and body (raw); ``None`` on a clean EOF.

        ``decoder`` decodes ``tuple[Header, msgspec.Raw]``.  Raises
        :class:`RPCProtocolError` for a header it rejects.
        """
        if not self._buf:
            data = await self._conn.read()
            if not data:
                return None
            try:
                return decoder.decode(_PAIR + data)
            except (msgspec.DecodeError, msgspec.ValidationError):
                self._buf += data  # part of a message, or more than one
            except RecursionError:
                raise RPCProtocolError(ERR_TOO_DEEP) from None
        header = await self.read_value()
        body = await self.read_value() if header is not None else None
        if body is None:
            raise RPCConnectionError("connection closed mid-message")
        try:
            return decoder.decode(_PAIR + header + body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise RPCProtocolError(f"bad message header: {exc}") from exc
        except RecursionError:
            raise RPCProtocolError(ERR_TOO_DEEP) from None


def encode_message(header: msgspec.Struct, body: Any) -> bytearray:
    """A header and body, encoded back to back."""
    buf = bytearray()
    _encoder.encode_into(header, buf)
    _encoder.encode_into(body, buf, -1)
    return buf


def encode(obj: Any) -> bytes:
    """Encode a body; ``msgspec.Raw`` is written through unchanged."""
    return _encoder.encode(obj)


Handler = Callable[[Any], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class _Endpoint:
    handler: Handler
    decoder: msgspec.msgpack.Decoder | None


class RPCServer:
    """Dispatches ``Service.Method`` requests to registered async handlers.

    A handler registered with a ``request_type`` gets the decoded args;
    without one it gets the raw args bytes.  Whatever it returns is encoded
    as the reply (return ``msgspec.Raw`` for pre-encoded bytes).  An
    exception becomes the response ``Error`` text.
    """

    def __init__(self, max_size: int = MAX_MESSAGE_SIZE) -> None:
        self._services: dict[str, dict[str, _Endpoint]] = {}
        self._max_size = max_size

    def register(self, method: str, handler: Handler, request_type: Any = None) -> None:
        service, _, name = method.rpartition(".")
        if not service or not name:
            raise ValueError(f"method must be Service.Method: {method!r}")
        decoder = None if request_type is None else msgspec.msgpack.Decoder(request_type)
        self._services.setdefault(service, {})[name] = _Endpoint(handler, decoder)

    async def serve_conn(self, conn: Conn) -> None:
        """Serve sequential requests until EOF or a framing error."""
        reader = MsgpackReader(conn, self._max_size)
        try:
            while await self._serve_one(conn, reader):
                pass
        except RPCProtocolError as exc:
            log.warning("rpc: dropping connection: %s", exc)
        except (RPCConnectionError, ConnectionError) as exc:
            log.debug("rpc conn ended: %s", exc)

    async def _serve_one(self, conn: Conn, reader: MsgpackReader) -> bool:
        message = await reader.read_message(_request_decoder)
        if message is None:
            return False
        header, body = message
        error, reply = await self.handle(header.ServiceMethod, body)
        response = ResponseHeader(Error=error, Seq=header.Seq, ServiceMethod=header.ServiceMethod)
        await conn.write(encode_message(response, msgspec.Raw(reply)))
        return True

    async def handle(self, method: str, body: bytes | msgspec.Raw) -> tuple[str, bytes]:
        """Run one request; returns ``(error text, encoded reply)``."""
        try:
            return "", encode(await self._dispatch(method, body))
        except Exception as exc:  # every handler error goes back as text
            return _error_text(exc), EMPTY_BODY

    async def _dispatch(self, method: str, body: bytes | msgspec.Raw) -> Any:
        service, dot, name = method.rpartition(".")
        if not dot:
            raise RPCError(f"rpc: service/method request ill-formed: {method}")
        if service not in self._services:
            raise RPCError(f"rpc: can't find service {method}")
        endpoint = self._services[service].get(name)
        if endpoint is None:
            raise RPCError(f"rpc: can't find method {method}")
        if endpoint.decoder is None:
            return await endpoint.handler(bytes(body))
        try:
            args = endpoint.decoder.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise RPCError(f"rpc: can't decode args for {method}: {exc}") from exc
        except RecursionError:
            raise RPCError(f"rpc: can't decode args for {method}: {ERR_TOO_DEEP}") from None
        return await endpoint.handler(args)


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ConsulError):
        return exc.message
    if not isinstance(exc, RPCError):
        log.exception("rpc handler failed")
    return str(exc) or type(exc).__name__


class ClientCodec:
    """The client half: sequential calls over one conn, ``Seq`` from 0."""

    def __init__(self, conn: Conn, max_size: int = MAX_MESSAGE_SIZE) -> None:
        self.conn = conn
        self._reader = MsgpackReader(conn, max_size)
        self._seq = 0

    async def call(self, method: str, args: Any, reply_type: Any = Any) -> Any:
        """Send one request and return the decoded reply.

        Raises :class:`RPCError` for a remote error and
        :class:`RPCConnectionError` if the conn breaks or misbehaves.
        """
        seq = self._seq
        self._seq += 1
        try:
            await self.conn.write(encode_message(RequestHeader(seq, method), args))
            message = await self._reader.read_message(_response_decoder)
        except RPCConnectionError:
            raise
        except ConnectionError as exc:
            raise RPCConnectionError(f"{method}: {exc}") from exc
        if message is None:
            raise RPCConnectionError(f"connection closed awaiting reply to {method}")
        response, body = message
        if response.Seq != seq:
            raise RPCProtocolError(f"response seq {response.Seq} != request seq {seq}")
        if response.Error:
            raise RPCError(response.Error)
        return decode_reply(method, body, reply_type)


def decode_reply(method: str, body: bytes | msgspec.Raw, reply_type: Any) -> Any:
    """Decode a reply body, reporting a mismatch as an :class:`RPCError`."""
    decoder = _reply_decoders.get(reply_type)
    if decoder is None:
        decoder = _reply_decoders[reply_type] = msgspec.msgpack.Decoder(reply_type)
    try:
        return decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise RPCError(f"rpc: can't decode reply of {method}: {exc}") from exc
    except RecursionError:
        raise RPCError(f"rpc: can't decode reply of {method}: {ERR_TOO_DEEP}") from None
