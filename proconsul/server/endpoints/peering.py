"""Peering.* (GenerateToken, Establish, Read, List, Delete, ExchangeSecret): cluster
peering's control plane, Consul's PeeringService (agent/rpc/peering) over our RPC.

Writes run on the leader (the forwarder sends them there). GenerateToken makes or
reuses an accepting peering with a fresh establishment secret; Establish checks the
token, trades its secret for a stream secret at the acceptor's servers and writes a
dialing peering; Delete marks a peering for the leader's deletion routine;
ExchangeSecret is the acceptor's side of that trade, called by the gRPC handler.
"""

from __future__ import annotations

import hmac
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from msgspec import UNSET
from msgspec.structs import replace

from proconsul.lib.metrics import timed
from proconsul.server.peering.exchange import exchange_secret
from proconsul.server.peering.materials import server_addresses, tls_materials
from proconsul.server.peering.validate import check_meta, check_peer_name, check_token
from proconsul.structs.errors import BadRequest, ConsulError, Forbidden
from proconsul.structs.messages import MessageType
from proconsul.structs.peering import (
    SECRETS_ESTABLISH,
    SECRETS_EXCHANGE_SECRET,
    SECRETS_GENERATE_TOKEN,
    STATE_DELETING,
    STATE_ESTABLISHING,
    STATE_UNDEFINED,
    ExchangeSecretRequest,
    ExchangeSecretResponse,
    Peering,
    PeeringDeleteByNameRequest,
    PeeringEstablishRequest,
    PeeringGenerateTokenRequest,
    PeeringGenerateTokenResponse,
    PeeringListRequest,
    PeeringListResponse,
    PeeringReadRequest,
    PeeringReadResponse,
    PeeringRemoteInfo,
    PeeringSecretsWriteRequest,
    PeeringToken,
    PeeringWriteRequest,
    SecretsWriteRequest,
    TokenDecodeError,
    decode_token,
    encode_token,
)

if TYPE_CHECKING:
    from proconsul.server.server import Server

ERR_PEERING_DISABLED = "peering must be enabled to use this endpoint"


class PeeringEndpoint:
    """The Peering RPC service."""

    NAME = "Peering"
    METHODS = ("GenerateToken", "Establish", "Read", "List", "Delete", "ExchangeSecret")

    def __init__(self, server: Server) -> None:
        self.server = server

    def _require_enabled(self) -> None:
        if not self.server.config.peering_enabled:
            raise BadRequest(ERR_PEERING_DISABLED)

    async def _write(self, peering: Peering, secrets: SecretsWriteRequest | None = None
                     ) -> None:
        try:
            await self.server.raft_apply(MessageType.PEERING_WRITE, PeeringWriteRequest(
                Peering=peering, SecretsRequest=secrets))
        except BadRequest as err:
            raise BadRequest(f"failed to write peering: {err}") from None

    @timed("consul.peering.generate_token")
    async def GenerateToken(self, req: PeeringGenerateTokenRequest
                            ) -> PeeringGenerateTokenResponse:
        """A token for the cluster ``PeerName`` to establish a peering with this one;
        ``peering:write``. Each call replaces the peering's establishment secret."""
        self._require_enabled()
        check_peer_name(req.PeerName)
        check_meta(req.Meta)
        self.server.authz.resolve(req.Token).require("peering_write")
        server_name, ca_pems = tls_materials(self.server, generating=True)
        peering = self.server.store.peering_read(None, req.PeerName, req.Partition)[1]
        if peering is None:
            peering = Peering(ID=str(uuid.uuid4()), Name=req.PeerName,
                              Meta=req.Meta if req.Meta else UNSET)
        elif peering.should_dial():
            raise BadRequest(f'cannot create peering with name: "{req.PeerName}"; there is '
                             "already an established peering")
        else:  # its state stays; one marked for deletion refuses the write
            peering = replace(peering, State=STATE_UNDEFINED, DeletedAt=UNSET)
        secret = str(uuid.uuid4())
        await self._write(peering, SecretsWriteRequest(
            PeerID=peering.ID, Op=SECRETS_GENERATE_TOKEN, EstablishmentSecret=secret))
        token = PeeringToken(
            CA=ca_pems, ManualServerAddresses=req.ServerExternalAddresses or None,
            ServerAddresses=req.ServerExternalAddresses or server_addresses(self.server),
            ServerName=server_name, PeerID=peering.ID, EstablishmentSecret=secret,
            Remote=PeeringRemoteInfo(Partition=req.Partition or "default",
                                     Datacenter=self.server.config.datacenter))
        return PeeringGenerateTokenResponse(PeeringToken=encode_token(token))

    @timed("consul.peering.establish")
    async def Establish(self, req: PeeringEstablishRequest) -> bool:
        """Peer with the cluster that generated ``PeeringToken``, under ``PeerName``;
        ``peering:write``."""
        self._require_enabled()
        check_peer_name(req.PeerName)
        try:
            token = decode_token(req.PeeringToken)
        except TokenDecodeError as err:
            raise BadRequest(str(err)) from None
        check_token(token)
        check_meta(req.Meta)
        self.server.authz.resolve(req.Token).require("peering_write")
        existing = self.server.store.peering_read(None, req.PeerName, req.Partition)[1]
        try:
            own_name = tls_materials(self.server, generating=False)[0]
        except ConsulError as err:
            raise ConsulError(f"failed to fetch TLS materials: {err}") from None
        if own_name == token.ServerName:
            raise BadRequest(
                f'cannot create a peering within the same cluster "{own_name}". Refer to the '
                "`exported-services` documentation if you want to export between partitions "
                "without peering")
        if existing is not None and not existing.should_dial():
            raise BadRequest(f'cannot create peering with name: "{req.PeerName}"; there is an '
                             "existing peering expecting to be dialed")
        peering = Peering(
            ID=existing.ID if existing is not None else str(uuid.uuid4()), Name=req.PeerName,
            PeerCAPems=list(token.CA or ()),
            ManualServerAddresses=token.ManualServerAddresses or UNSET,
            PeerServerAddresses=list(token.ServerAddresses or token.ManualServerAddresses or ()),
            PeerServerName=token.ServerName, PeerID=token.PeerID,
            Meta=req.Meta if req.Meta else UNSET,
            Remote=PeeringRemoteInfo(Partition=token.Remote.Partition,
                                     Datacenter=token.Remote.Datacenter))
        # Written before the exchange (as Consul does): a failed exchange leaves it to retry.
        await self._write(peering)
        stream_secret = await exchange_secret(
            list(token.ManualServerAddresses or token.ServerAddresses or ()),
            list(token.CA or ()), token.ServerName, token.PeerID, token.EstablishmentSecret)
        await self._write(replace(peering, State=STATE_ESTABLISHING), SecretsWriteRequest(
            PeerID=peering.ID, Op=SECRETS_ESTABLISH, StreamSecret=stream_secret))
        return True

    @timed("consul.peering.read")
    async def Read(self, req: PeeringReadRequest) -> PeeringReadResponse:
        """One peering by name (None when there is none); ``peering:read``."""
        self._require_enabled()
        self.server.authz.resolve(req.Token).require("peering_read")
        store = self.server.store
        decorate = self.server.peering_streams.decorate  # the leader's stream status
        return await self.server.read_into(
            req, PeeringReadResponse(), "Peering",
            lambda ws: store.peering_read(ws, req.Name, req.Partition),
            shape=lambda peering: decorate(peering) if peering is not None else None)

    @timed("consul.peering.list")
    async def List(self, req: PeeringListRequest) -> PeeringListResponse:
        """Every peering, by name; ``peering:read``."""
        self._require_enabled()
        self.server.authz.resolve(req.Token).require("peering_read")
        store = self.server.store
        decorate = self.server.peering_streams.decorate
        return await self.server.read_into(req, PeeringListResponse(), "Peerings",
                                           lambda ws: store.peering_list(ws),
                                           shape=lambda rows: [decorate(p) for p in rows])

    @timed("consul.peering.delete")
    async def Delete(self, req: PeeringDeleteByNameRequest) -> bool:
        """Mark a peering for deletion (the leader's routine removes it); deleting one
        that is absent or already marked does nothing. ``peering:write``."""
        self._require_enabled()
        self.server.authz.resolve(req.Token).require("peering_write")
        existing = self.server.store.peering_read(None, req.Name, req.Partition)[1]
        if existing is None or existing.State == STATE_DELETING:
            return True
        marked = Peering(ID=existing.ID, Name=existing.Name, State=STATE_DELETING,
                         PeerServerAddresses=existing.PeerServerAddresses,
                         DeletedAt=datetime.now(UTC), Partition=existing.Partition)
        await self.server.raft_apply(MessageType.PEERING_WRITE,
                                     PeeringWriteRequest(Peering=marked))
        return True

    @timed("consul.peering.exchange_secret")
    async def ExchangeSecret(self, req: ExchangeSecretRequest) -> ExchangeSecretResponse:
        """Consume the establishment secret of peering ``PeerID`` for a new pending
        stream secret (the secret is the credential: no ACL token)."""
        self._require_enabled()
        secrets = self.server.store.peering_secrets_read(req.PeerID)
        stored = secrets.EstablishmentSecretID if secrets is not None else ""
        if not stored or not hmac.compare_digest(stored.encode(),
                                                  req.EstablishmentSecret.encode()):
            raise Forbidden("invalid peering establishment secret")
        stream_secret = str(uuid.uuid4())
        change = SecretsWriteRequest(PeerID=req.PeerID, Op=SECRETS_EXCHANGE_SECRET,
                                     EstablishmentSecret=req.EstablishmentSecret,
                                     StreamSecret=stream_secret)
        try:
            await self.server.raft_apply(MessageType.PEERING_SECRETS_WRITE,
                                         PeeringSecretsWriteRequest(SecretsRequest=change))
        except BadRequest as err:
            raise ConsulError(f"failed to persist peering secret: {err}") from None
        return ExchangeSecretResponse(StreamSecret=stream_secret)
