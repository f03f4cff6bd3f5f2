"""TCP and UDP checks (Consul's CheckTCP and CheckUDP)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
import ssl
from typing import Any

from proconsul.agent.checks.base import IntervalRunner, TLSAddressRunner, split_host_port
from proconsul.structs.catalog import HEALTH_CRITICAL, HEALTH_PASSING


class TCPRunner(TLSAddressRunner):
    """Passing if a TCP (or, with ``TCPUseTLS``, TLS) connection can be established."""

    kind = "tcp"

    async def probe(self) -> None:
        label = "TCP+TLS" if self.ssl_context is not None else "TCP"
        try:
            host, port = split_host_port(self.address)
        except ValueError as err:
            self.report(HEALTH_CRITICAL, f"dial tcp {err}")
            return
        kwargs: dict[str, Any] = {}
        if self.ssl_context is not None:
            kwargs["ssl"] = self.ssl_context
            kwargs["server_hostname"] = self.server_name or host
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, **kwargs), self.timeout)
        except TimeoutError:
            self.report(HEALTH_CRITICAL, f"dial tcp {self.address}: i/o timeout")
            return
        except ssl.SSLError as err:
            self.report(HEALTH_CRITICAL, f"tls: {err}")
            return
        except OSError as err:
            self.report(HEALTH_CRITICAL, f"dial tcp {self.address}: connect: {_strerror(err)}")
            return
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
        self.report(HEALTH_PASSING, f"{label} connect {self.address}: Success")


class _UDPProbe(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.result: asyncio.Future[Exception | None] = (
            asyncio.get_running_loop().create_future())

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if not self.result.done():
            self.result.set_result(None)

    def error_received(self, exc: Exception) -> None:
        if not self.result.done():
            self.result.set_result(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.result.done():
            self.result.set_result(exc)


class UDPRunner(IntervalRunner):
    """Sends a datagram; passing on a reply *or* a read timeout, critical on an error.

    An ICMP "port unreachable" (seen as ECONNREFUSED on the connected socket)
    is the error that makes a UDP check critical.
    """

    kind = "udp"

    def __init__(self, check_id: str, update: Any, *, address: str, payload: bytes = b"",
                 **kwargs: Any) -> None:
        super().__init__(check_id, update, **kwargs)
        self.address = address
        self.payload = payload

    async def probe(self) -> None:
        success = f"UDP connect {self.address}: Success"
        try:
            host, port = split_host_port(self.address)
        except ValueError as err:
            self.report(HEALTH_CRITICAL, f"dial udp {err}")
            return
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM), self.timeout)
            family, _, proto, _, sockaddr = infos[0]
            sock = socket.socket(family, socket.SOCK_DGRAM, proto)
        except TimeoutError:
            self.report(HEALTH_PASSING, success)
            return
        except OSError as err:
            self.report(HEALTH_CRITICAL, f"dial udp {self.address}: {_strerror(err)}")
            return
        try:
            sock.setblocking(False)
            sock.connect(sockaddr)
            transport, protocol = await loop.create_datagram_endpoint(_UDPProbe, sock=sock)
        except OSError as err:
            sock.close()
            self.report(HEALTH_CRITICAL, f"dial udp {self.address}: {_strerror(err)}")
            return
        try:
            local = _format_addr(sock.getsockname())
            # Sent on the socket itself: asyncio drops empty datagrams, Consul sends one.
            try:
                sock.send(self.payload)
            except OSError as err:
                self.report(HEALTH_CRITICAL, f"write udp {local}->{self.address}: "
                                             f"write: {_strerror(err)}")
                return
            try:
                error = await asyncio.wait_for(asyncio.shield(protocol.result), self.timeout)
            except TimeoutError:
                self.report(HEALTH_PASSING, success)
                return
            if error is None:
                self.report(HEALTH_PASSING, success)
            else:
                message = _strerror(error) if isinstance(error, OSError) else str(error)
                self.report(HEALTH_CRITICAL,
                            f"read udp {local}->{self.address}: read: {message}")
        finally:
            transport.close()


def _format_addr(sockname: Any) -> str:
    if not sockname:
        return "?"
    host, port = sockname[0], sockname[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _strerror(err: OSError) -> str:
    if err.errno and err.errno in errno.errorcode:
        return os.strerror(err.errno).lower()
    return str(err) or type(err).__name__
