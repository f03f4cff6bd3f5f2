"""Errors raised by RPC calls, split by what the caller should do next."""

from __future__ import annotations

from proconsul.structs.errors import ConsulError, remote_error_class

__all__ = ["RPCConnectionError", "RPCDialError", "RPCError", "RPCProtocolError", "RPCTimeout"]


class RPCError(ConsulError):
    """The server answered with an error; the text is Consul's, verbatim
    (``No cluster leader``, ``Permission denied``, ``rpc: can't find method X``).
    ``status`` is the HTTP status of the error class that text stands for."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.status = remote_error_class(message).status


class RPCConnectionError(ConnectionError):
    """The call could not reach the server or the connection broke mid-call;
    the request may be retried against another server."""


class RPCProtocolError(RPCConnectionError):
    """The peer sent bytes that are not valid msgpack-RPC or yamux."""


class RPCTimeout(TimeoutError):
    """No reply within the call's timeout (the request may have been applied)."""


class RPCDialError(RPCConnectionError):
    """The connection could not be made: the request was never sent."""
