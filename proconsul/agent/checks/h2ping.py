"""H2PING checks (Consul's CheckH2PING): an HTTP/2 PING frame must be acknowledged."""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions

from proconsul.agent.checks.base import TLSAddressRunner, split_host_port
from proconsul.structs.catalog import HEALTH_CRITICAL, HEALTH_PASSING


class H2PingRunner(TLSAddressRunner):
    """Opens an HTTP/2 connection (TLS with ALPN h2, or prior-knowledge cleartext) and PINGs."""

    kind = "h2ping"

    async def probe(self) -> None:
        try:
            host, port = split_host_port(self.address)
            kwargs: dict[str, Any] = {}
            if self.ssl_context is not None:
                kwargs = {"ssl": self.ssl_context, "server_hostname": self.server_name or host}
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, **kwargs), self.timeout)
        except (OSError, ValueError, TimeoutError) as err:
            reason = "i/o timeout" if isinstance(err, TimeoutError) else _describe(err)
            self.report(HEALTH_CRITICAL, f"Failed to dial to {self.address}: {reason}")
            return
        try:
            await asyncio.wait_for(_ping(reader, writer), self.timeout)
        except TimeoutError:
            self.report(HEALTH_CRITICAL, "HTTP2 ping failed: context deadline exceeded")
        except (OSError, EOFError, h2.exceptions.ProtocolError) as err:
            self.report(HEALTH_CRITICAL, f"HTTP2 ping failed: {_describe(err)}")
        else:
            self.report(HEALTH_PASSING, "HTTP2 ping was successful")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)


async def _ping(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    opaque = os.urandom(8)
    conn.ping(opaque)
    writer.write(conn.data_to_send())
    await writer.drain()
    while True:
        data = await reader.read(65536)
        if not data:
            raise EOFError("unexpected EOF")
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.PingAckReceived) and event.ping_data == opaque:
                conn.close_connection()
                writer.write(conn.data_to_send())
                with contextlib.suppress(OSError):
                    await writer.drain()
                return
            if isinstance(event, h2.events.ConnectionTerminated):
                raise EOFError(f"connection terminated by server (error {event.error_code})")
        pending = conn.data_to_send()
        if pending:
            writer.write(pending)
            await writer.drain()


def _describe(err: BaseException) -> str:
    if isinstance(err, OSError) and not isinstance(err, ssl.SSLError) and err.errno:
        return os.strerror(err.errno).lower()
    return str(err) or type(err).__name__
