"""What the leader knows of a peering's stream (Consul's stream tracker status):
connected or not, when it last heard, sent, was acknowledged or refused, and which
services it imports and exports. Times are the caller's clock (seconds)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["StreamStatus"]


@dataclass
class StreamStatus:
    """One stream's figures; :meth:`healthy` decides ACTIVE against FAILING."""

    connected: bool = False
    terminated: bool = False  # the peer deleted the peering
    disconnected_at: float | None = None
    disconnect_error: str = ""
    last_heartbeat: float | None = None
    last_receive: float | None = None
    last_send: float | None = None
    last_ack: float | None = None
    last_nack: float | None = None
    last_nack_message: str = ""
    last_recv_success: float | None = None
    last_recv_error: float | None = None
    last_recv_error_message: str = ""
    imported_services: set[str] = field(default_factory=set)
    exported_services: set[str] = field(default_factory=set)

    def connect(self) -> None:
        self.connected = True
        self.disconnected_at, self.disconnect_error = None, ""

    def disconnect(self, now: float, error: str = "") -> None:
        self.connected, self.disconnected_at, self.disconnect_error = False, now, error

    def healthy(self, now: float, grace: float) -> bool:
        """Consul's IsHealthy: not disconnected for longer than ``grace``, and neither the
        last thing we sent refused (a NACK newer than any ACK) nor the last thing we
        received failing to apply (an error newer than any success)."""
        if not self.connected and self.disconnected_at is not None and \
                now - self.disconnected_at > grace:
            return False
        if self.last_nack is not None and (self.last_ack is None
                                           or self.last_nack > self.last_ack):
            return False
        return self.last_recv_error is None or (
            self.last_recv_success is not None
            and self.last_recv_success > self.last_recv_error)
