"""Internal.*: the calls Consul's agents make of servers for their own needs."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from msgspec.structs import replace

from proconsul.server.endpoints.internal_dump import InternalDumps
from proconsul.server.endpoints.manual_vips import assign_manual_vips
from proconsul.structs.errors import BadRequest, ConsulError, NotFound
from proconsul.structs.event import USER_EVENT_PREFIX, EventFireRequest, EventFireResponse
from proconsul.structs.exported_services import IndexedServiceNames
from proconsul.structs.keyring import (
    KEYRING_LIST,
    KEYRING_OPERATIONS,
    KeyringRequest,
    KeyringResponses,
)
from proconsul.structs.requests import DCSpecificRequest
from proconsul.structs.virtual_ip import (
    AssignServiceManualVIPsRequest,
    AssignServiceManualVIPsResponse,
)

if TYPE_CHECKING:
    from proconsul.server.server import Server


class Internal(InternalDumps):
    """The Internal RPC service."""

    NAME = "Internal"
    METHODS = ("EventFire", "KeyringOperation", "AssignManualServiceVIPs",
               "ExportedServicesForPeer", *InternalDumps.METHODS)

    def __init__(self, server: Server) -> None:
        self.server = server

    async def EventFire(self, req: EventFireRequest) -> EventFireResponse:
        """Broadcast a user event (fired in another datacenter) on this server's LAN pool;
        the token needs ``event:write`` on the name, as on the agent that fired it."""
        self.server.authz.resolve(req.Token).require("event_write", req.Name)
        fire = self.server.fire_user_event
        if fire is None:
            raise ConsulError("user events cannot be fired from this server")
        try:
            fire(USER_EVENT_PREFIX + req.Name, req.Payload or b"")
        except ValueError as err:
            raise BadRequest(f"UserEvent payload too large: {err}") from None
        return EventFireResponse(KnownLeader=self.server.consensus.leader_address() is not None)

    async def KeyringOperation(self, req: KeyringRequest) -> KeyringResponses:
        """A gossip keyring operation over the whole federation, as Consul's: the WAN pool
        once, here, then every known datacenter's LAN pool (this one's included), each
        through one of its servers; a forwarded or ``LocalOnly`` request touches only
        this datacenter's LAN pool."""
        if req.Operation not in KEYRING_OPERATIONS:
            raise BadRequest(f"unknown keyring operation {req.Operation!r}")
        if req.LocalOnly and req.Operation != KEYRING_LIST:
            raise BadRequest("argument error: LocalOnly can only be used for List operations")
        self.server.authz.resolve(req.Token).require(
            "keyring_read" if req.Operation == KEYRING_LIST else "keyring_write")
        keyring = self.server.keyring
        if keyring is None:
            raise ConsulError("keyring operations are not available on this server")
        if req.Forwarded or req.LocalOnly:
            return KeyringResponses(Responses=[await keyring(False, req.Operation, req.Key)])
        wan = await keyring(True, req.Operation, req.Key)
        forwarded = replace(req, Forwarded=True)
        datacenters = sorted({*self.server.datacenters_by_distance(),
                              self.server.config.datacenter})
        replies = await asyncio.gather(*(
            self.server.rpc("Internal.KeyringOperation", replace(forwarded, Datacenter=dc))
            for dc in datacenters))
        return KeyringResponses(Responses=[wan, *(r for reply in replies
                                                  for r in reply.Responses or ())])

    async def ExportedServicesForPeer(self, req: DCSpecificRequest) -> IndexedServiceNames:
        """The services this cluster exports to the peering named ``PeerName`` (404 if
        there is none); filtered by ``service:read`` unless the token has ``mesh:write``."""
        if not req.PeerName:
            raise BadRequest("must provide PeerName")
        ident = self.server.authz.resolve(req.Token)
        store = self.server.store
        reply = IndexedServiceNames()

        def query(ws) -> int:
            index, peering = store.peering_read(ws, req.PeerName)
            if peering is None:
                raise NotFound(f"peering {req.PeerName!r} not found")
            exports_index, exports = store.exported_services_for_peer(ws, req.PeerName)
            names = exports.Services
            reply.ResultsFilteredByACLs = False
            if ident.enforcing and not ident.allowed("mesh_write"):
                names = ident.keep(names, lambda n: ident.allowed("service_read", n), reply)
            reply.Services = names
            return max(index, exports_index)

        await self.server.blocking_query(req, reply, query)
        return reply

    async def AssignManualServiceVIPs(self, req: AssignServiceManualVIPsRequest
                                      ) -> AssignServiceManualVIPsResponse:
        """Set a service's manual virtual IPs (``operator:write``)."""
        return await assign_manual_vips(self.server, req)
