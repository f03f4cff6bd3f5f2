"""How an acceptor checks a dialer's first message: an Open naming a peering it
accepts, with that peering's active stream secret, or its pending one, which the
first stream using it promotes to active (one raft write)."""

from __future__ import annotations

from dataclasses import dataclass

from proconsul.structs.peering import (
    SECRETS_PROMOTE_PENDING,
    Peering,
    PeeringSecrets,
    SecretsWriteRequest,
)

__all__ = ["OpenRefused", "check_open"]

# gRPC status codes of the refusals
INVALID_ARGUMENT, FAILED_PRECONDITION, PERMISSION_DENIED, INTERNAL = 3, 9, 7, 13


@dataclass(frozen=True)
class OpenRefused(Exception):
    """The stream is refused with this gRPC status code and message."""

    code: int
    message: str


def check_open(message, peering: Peering | None, secrets: PeeringSecrets | None
               ) -> SecretsWriteRequest | None:
    """None if ``message`` may open a stream as it is; the promotion to apply first if
    it uses the pending secret; OpenRefused otherwise."""
    if message.WhichOneof("Payload") != "open":
        raise OpenRefused(INVALID_ARGUMENT,
                          "first message when initiating a peering must be: Open")
    open_ = message.open
    if not open_.PeerID:
        raise OpenRefused(INVALID_ARGUMENT, "initial subscription request must specify a "
                                            "PeerID")
    if peering is None:
        raise OpenRefused(INVALID_ARGUMENT,
                          f"initial subscription for unknown PeerID: {open_.PeerID}")
    if not peering.is_active():
        raise OpenRefused(FAILED_PRECONDITION, "cannot establish a peering stream on a "
                                               "terminated or deleted peering")
    if peering.should_dial():
        raise OpenRefused(FAILED_PRECONDITION, "cannot open a peering stream to the "
                                               "dialing side of a peering")
    if secrets is None:
        raise OpenRefused(INTERNAL, "unable to authorize connection, peering must be "
                                    "re-established")
    secret = open_.StreamSecretID
    if secret and secret == secrets.PendingStreamSecretID:
        return SecretsWriteRequest(PeerID=peering.ID, Op=SECRETS_PROMOTE_PENDING,
                                   StreamSecret=secret)
    if secret and secret == secrets.ActiveStreamSecretID:
        return None
    raise OpenRefused(PERMISSION_DENIED, "invalid peering stream secret")
