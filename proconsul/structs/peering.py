"""Cluster peering: the peering records, their trust bundles and secrets, the token
an acceptor hands a dialer, and the Peering RPCs' requests and replies (Consul's
pbpeering messages with api/peering.go's JSON names)."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

import msgspec
from msgspec import field

from proconsul.structs.base import UNSET, Record, Uint64, UnsetType
from proconsul.structs.catalog import Locality
from proconsul.structs.query import QueryMeta, QueryOptions

STATE_UNDEFINED = "UNDEFINED"
STATE_PENDING = "PENDING"
STATE_ESTABLISHING = "ESTABLISHING"
STATE_ACTIVE = "ACTIVE"
STATE_FAILING = "FAILING"
STATE_DELETING = "DELETING"
STATE_TERMINATED = "TERMINATED"
# pbpeering.PeeringState numbers, in order
PEERING_STATES = (STATE_UNDEFINED, STATE_PENDING, STATE_ESTABLISHING, STATE_ACTIVE,
                  STATE_FAILING, STATE_DELETING, STATE_TERMINATED)

# SecretsWriteRequest operations (pbpeering's oneof Request)
SECRETS_GENERATE_TOKEN = "generate-token"
SECRETS_EXCHANGE_SECRET = "exchange-secret"
SECRETS_PROMOTE_PENDING = "promote-pending"
SECRETS_ESTABLISH = "establish"


class PeeringRemoteInfo(Record):
    """What the other cluster said about itself."""

    Partition: str = ""
    Datacenter: str = ""
    Locality: Locality | UnsetType = UNSET


class PeeringStreamStatus(Record):
    """The replication stream's figures, computed on read (zero until a stream exists)."""

    ImportedServices: list[str] | None = None
    ExportedServices: list[str] | None = None
    LastHeartbeat: datetime | None = None
    LastReceive: datetime | None = None
    LastSend: datetime | None = None


class Peering(Record):
    """One peering relationship, as stored and as ``/v1/peering/:name`` shows it.

    A peering with server addresses dials (it was made by Establish); one without
    accepts (it was made by GenerateToken)."""

    ID: str = ""
    Name: str = ""
    Partition: str | UnsetType = UNSET
    DeletedAt: datetime | UnsetType = UNSET
    Meta: dict[str, str] | UnsetType = UNSET
    State: str = STATE_UNDEFINED
    PeerID: str | UnsetType = UNSET
    PeerCAPems: list[str] | UnsetType = UNSET
    PeerServerName: str | UnsetType = UNSET
    PeerServerAddresses: list[str] | UnsetType = UNSET
    StreamStatus: PeeringStreamStatus = field(default_factory=PeeringStreamStatus)
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0
    Remote: PeeringRemoteInfo = field(default_factory=PeeringRemoteInfo)
    ManualServerAddresses: list[str] | UnsetType = UNSET

    def should_dial(self) -> bool:
        return bool(self.PeerServerAddresses)

    def is_active(self) -> bool:
        """Neither marked for deletion nor terminated by the peer."""
        return self.DeletedAt is UNSET and self.State not in (STATE_DELETING,
                                                              STATE_TERMINATED)


class PeeringTrustBundle(Record):
    """The peer's CA roots, used to check the certificates of its services."""

    TrustDomain: str = ""
    PeerName: str = ""
    Partition: str = ""
    RootPEMs: list[str] = field(default_factory=list)
    ExportedPartition: str = ""
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0


class PeeringSecrets(Record):
    """A peering's secrets (never returned by reads): the one-time establishment
    secret, and the stream's active and pending secrets."""

    PeerID: str = ""
    EstablishmentSecretID: str = ""
    ActiveStreamSecretID: str = ""
    PendingStreamSecretID: str = ""


class SecretsWriteRequest(Record):
    """A change to a peering's secrets: ``Op`` is one of the SECRETS_* operations;
    ``EstablishmentSecret`` is the new one (generate-token) or the one exchanged
    (exchange-secret); ``StreamSecret`` the new pending (exchange-secret) or
    active (promote-pending, establish) stream secret."""

    PeerID: str = ""
    Op: str = ""
    EstablishmentSecret: str = ""
    StreamSecret: str = ""


class PeeringWriteRequest(Record):
    """Raft command: write a peering and, optionally, its secrets."""

    Peering: Peering
    SecretsRequest: SecretsWriteRequest | None = None


class PeeringDeleteRequest(Record):
    """Raft command: remove a peering already marked for deletion."""

    Name: str = ""
    Partition: str = ""


class PeeringTerminateByIDRequest(Record):
    """Raft command: the peer ended the peering; mark it TERMINATED."""

    ID: str = ""


class PeeringTrustBundleWriteRequest(Record):
    """Raft command: write a peer's trust bundle."""

    PeeringTrustBundle: PeeringTrustBundle


class PeeringTrustBundleDeleteRequest(Record):
    """Raft command: remove a peer's trust bundle."""

    Name: str = ""
    Partition: str = ""


class PeeringSecretsWriteRequest(Record):
    """Raft command: change a peering's secrets alone (ExchangeSecret, stream promotion)."""

    SecretsRequest: SecretsWriteRequest


class PeeringToken(Record, forbid_unknown_fields=False):
    """What GenerateToken hands the dialing cluster (base64 of this as JSON)."""

    CA: list[str] | None = None
    ManualServerAddresses: list[str] | None = None
    ServerAddresses: list[str] | None = None
    ServerName: str = ""
    PeerID: str = ""
    EstablishmentSecret: str = ""
    Remote: PeeringRemoteInfo = field(default_factory=PeeringRemoteInfo)


class TokenDecodeError(ValueError):
    """A peering token that is not base64 of a JSON PeeringToken."""


def encode_token(token: PeeringToken) -> str:
    return base64.b64encode(msgspec.json.encode(token)).decode()


def decode_token(text: str) -> PeeringToken:
    """The token in ``text``; TokenDecodeError with Consul's wording if it is not one."""
    try:
        raw = base64.b64decode(text.encode(), validate=True)
    except (binascii.Error, ValueError):
        raise TokenDecodeError("failed to decode peering token: illegal base64 data") from None
    try:
        return msgspec.json.decode(raw, type=PeeringToken)
    except msgspec.DecodeError as err:
        raise TokenDecodeError(f"failed to decode peering token: {err}") from None


# -- RPC requests and replies (our msgpack RPC's Peering.* methods) --------------------

class PeeringGenerateTokenRequest(Record):
    """``Peering.GenerateToken`` and ``POST /v1/peering/token``'s body."""

    PeerName: str = ""
    Partition: str = ""
    Meta: dict[str, str] | None = None
    ServerExternalAddresses: list[str] | None = None
    Datacenter: str = ""
    Token: str = ""


class PeeringGenerateTokenResponse(Record):
    PeeringToken: str = ""


class PeeringEstablishRequest(Record):
    """``Peering.Establish`` and ``POST /v1/peering/establish``'s body."""

    PeerName: str = ""
    PeeringToken: str = ""
    Partition: str = ""
    Meta: dict[str, str] | None = None
    Datacenter: str = ""
    Token: str = ""


class PeeringReadRequest(QueryOptions):
    """``Peering.Read``: one peering by name."""

    Name: str = ""
    Partition: str = ""
    Datacenter: str = ""


class PeeringDeleteByNameRequest(Record):
    """``Peering.Delete``: mark one peering for deletion."""

    Name: str = ""
    Partition: str = ""
    Datacenter: str = ""
    Token: str = ""


class PeeringListRequest(QueryOptions):
    Partition: str = ""
    Datacenter: str = ""


class PeeringReadResponse(QueryMeta):
    Peering: Peering | None = None


class PeeringListResponse(QueryMeta):
    Peerings: list[Peering] = field(default_factory=list)


class ExchangeSecretRequest(Record):
    """``Peering.ExchangeSecret``: the gRPC handler's write, forwarded to the leader."""

    PeerID: str = ""
    EstablishmentSecret: str = ""
    Datacenter: str = ""


class ExchangeSecretResponse(Record):
    StreamSecret: str = ""
