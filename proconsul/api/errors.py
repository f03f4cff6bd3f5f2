"""Errors raised by the client, worded as Consul's Go client words them."""

from __future__ import annotations


class ClientError(Exception):
    """Any failure to get an answer from the agent."""


class TransportError(ClientError):
    """The agent could not be reached (refused, reset, TLS failure...)."""


class APIError(ClientError):
    """The agent answered with an unexpected HTTP status; ``message`` is its one-line body."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message.strip()
        text = f"Unexpected response code: {status}"
        super().__init__(f"{text} ({self.message})" if self.message else text)
