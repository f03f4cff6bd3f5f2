"""Internal.*: the calls Consul's agents make of servers for their own needs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from proconsul.server.endpoints.internal_dump import InternalDumps
from proconsul.structs.errors import BadRequest, ConsulError
from proconsul.structs.event import USER_EVENT_PREFIX, EventFireRequest, EventFireResponse

if TYPE_CHECKING:
    from proconsul.server.server import Server


class Internal(InternalDumps):
    """The Internal RPC service."""

    NAME = "Internal"
    METHODS = ("EventFire", *InternalDumps.METHODS)

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
