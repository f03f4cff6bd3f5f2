"""HTTP connections to the agent: TCP, TLS or a unix socket, kept alive per thread."""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
from dataclasses import dataclass
from typing import BinaryIO

from proconsul.api.config import Config
from proconsul.api.errors import TransportError
from proconsul.lib.pki import ca_files


class UnixConnection(http.client.HTTPConnection):
    """HTTP over a unix domain socket (``unix:///path`` addresses)."""

    def __init__(self, path: str, timeout: float | None = None) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class TLSConnection(http.client.HTTPSConnection):
    """HTTPS whose certificate is checked against ``server_name`` (``-tls-server-name``)."""

    def __init__(self, host: str, port: int, context: ssl.SSLContext, server_name: str) -> None:
        super().__init__(host, port, context=context)
        self._server_name = server_name

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self._server_name)


def ssl_context(config: Config) -> ssl.SSLContext:
    """The CA file and directory if given (else the system's roots) and our certificate;
    TransportError naming the file that cannot be loaded."""
    tls = config.tls
    try:
        files = ca_files(tls.ca_file, tls.ca_path)
    except (OSError, ValueError) as err:
        raise TransportError(f"Error loading CA path {tls.ca_path}: {_reason(err)}") from None
    context = ssl.create_default_context() if not files else \
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    for path in files:
        try:
            context.load_verify_locations(cafile=path)
        except (OSError, ssl.SSLError) as err:
            raise TransportError(f"Error loading CA file {path}: {_reason(err)}") from None
    if tls.cert_file:
        try:
            context.load_cert_chain(tls.cert_file, tls.key_file or None)
        except (OSError, ssl.SSLError) as err:
            raise TransportError(f"Error loading client certificate {tls.cert_file}: "
                                 f"{_reason(err)}") from None
    if tls.insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _reason(err: Exception) -> str:
    return getattr(err, "strerror", None) or getattr(err, "reason", None) or str(err)


STREAM_BLOCK = 1 << 20


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


class Transport:
    """Sends requests over one kept-alive connection per thread."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._local = threading.local()
        self._ssl: ssl.SSLContext | None = None  # built at the first HTTPS connection

    def url(self, path: str) -> str:
        return f"{self.config.scheme}://{self.config.address}{path}"

    def _connect(self) -> http.client.HTTPConnection:
        address = self.config.address
        if address.startswith("unix://"):
            return UnixConnection(address[len("unix://"):])
        host, _, port = address.rpartition(":")
        if not host:
            host, port = address, ""
        host = host.strip("[]")
        if self.config.scheme == "https":
            if self._ssl is None:
                self._ssl = ssl_context(self.config)
            return TLSConnection(host, int(port or 443), self._ssl,
                                 self.config.tls.server_name or host)
        return http.client.HTTPConnection(host, int(port or 80))

    def request(self, method: str, path: str, body: bytes | None,
                headers: dict[str, str]) -> Response:
        """One round trip; a stale kept-alive connection is retried once on a fresh one."""
        for attempt in (0, 1):
            conn = getattr(self._local, "conn", None)
            fresh = conn is None
            if fresh:
                conn = self._local.conn = self._connect()
            try:
                conn.request(method, path, body=body, headers=headers)
                reply = conn.getresponse()
                data = reply.read()
                if reply.will_close:
                    self.close()
                return Response(reply.status, dict(reply.getheaders()), data)
            except (http.client.RemoteDisconnected, BrokenPipeError,
                    ConnectionResetError) as err:
                self.close()
                if fresh or attempt:
                    raise self._transport_error(method, path, err) from None
            except (OSError, http.client.HTTPException) as err:
                self.close()
                raise self._transport_error(method, path, err) from None
        raise AssertionError("unreachable")

    def stream(self, method: str, path: str, headers: dict[str, str],
               body: BinaryIO | None = None):
        """A request whose reply is read incrementally (and whose ``body``, a file, is
        sent in blocks); the caller closes the connection."""
        conn = self._connect()
        conn.blocksize = STREAM_BLOCK
        try:
            conn.request(method, path, body=body, headers=headers)
            return conn, conn.getresponse()
        except (OSError, http.client.HTTPException) as err:
            conn.close()
            raise self._transport_error(method, path, err) from None

    def _transport_error(self, method: str, path: str, err: Exception) -> TransportError:
        verb = method.capitalize()
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err) or \
            type(err).__name__
        if isinstance(err, ConnectionRefusedError):
            reason = "connect: connection refused"
        return TransportError(f'{verb} "{self.url(path)}": dial tcp {self.config.address}: {reason}')

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
