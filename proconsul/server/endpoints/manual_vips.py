"""Internal.AssignManualServiceVIPs: an operator pins extra virtual IPs on a service
(Consul's ``PUT /v1/internal/service-virtual-ip``), through raft as UpdateVirtualIP."""

from __future__ import annotations

from typing import TYPE_CHECKING

from proconsul.structs.errors import BadRequest
from proconsul.structs.gateway_services import ServiceName
from proconsul.structs.messages import MessageType
from proconsul.structs.virtual_ip import (
    AssignServiceManualVIPsRequest,
    AssignServiceManualVIPsResponse,
    PeeredServiceName,
    ServiceVirtualIP,
    manual_vips_problem,
)

if TYPE_CHECKING:
    from proconsul.server.server import Server


async def assign_manual_vips(server: Server, req: AssignServiceManualVIPsRequest
                             ) -> AssignServiceManualVIPsResponse:
    """Needs ``operator:write``; the IPs must be IPv4."""
    server.authz.resolve(req.Token).require("operator_write")
    problem = manual_vips_problem(req.ManualVIPs or [])
    if problem:
        raise BadRequest(problem)
    return await server.raft_apply(MessageType.UPDATE_VIRTUAL_IP, ServiceVirtualIP(
        Service=PeeredServiceName(ServiceName=ServiceName(Name=req.Service)),
        ManualIPs=list(req.ManualVIPs or ())))
