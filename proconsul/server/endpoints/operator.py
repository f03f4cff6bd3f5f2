"""Operator.*: Raft configuration and peers, leadership transfer, autopilot."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from proconsul.lib.duration import DurationError, parse_duration
from proconsul.raft.interface import ConsensusError
from proconsul.server.acl_enforce import request_token
from proconsul.structs.base import Record
from proconsul.structs.catalog import ServiceNode
from proconsul.structs.errors import BadRequest, ConsulError
from proconsul.structs.messages import MessageType
from proconsul.structs.operator import (
    CONNECT_USAGE_KINDS,
    AutopilotConfig,
    AutopilotSetConfigRequest,
    OperatorHealthReply,
    OperatorUsageRequest,
    RaftConfigurationResponse,
    RaftServer,
    ServiceUsage,
    Usage,
)

if TYPE_CHECKING:
    from proconsul.server.server import Server


class RaftPeerRequest(Record):
    """Operator.RaftRemovePeer*/RaftTransferLeader: a server by ID or address."""

    ID: str = ""
    Address: str = ""
    Datacenter: str = ""
    Token: str = ""


class Operator:
    """The Operator RPC service."""

    NAME = "Operator"
    METHODS = ("RaftGetConfiguration", "RaftRemovePeerByID", "RaftRemovePeerByAddress",
               "RaftTransferLeader", "AutopilotGetConfiguration",
               "AutopilotSetConfiguration", "ServerHealth", "Usage")

    def __init__(self, server: Server) -> None:
        self.server = server

    def _require(self, req: Any, check: str) -> None:
        self.server.authz.resolve(request_token(req)).require(check)

    async def RaftGetConfiguration(self, req: Any) -> RaftConfigurationResponse:
        self._require(req, "operator_read")
        consensus = self.server.consensus
        names = {m.tags.get("id"): m.name for m in self.server.lan_members()}
        names[self.server.config.node_id] = self.server.config.node_name
        leader = consensus.leader_address()
        return RaftConfigurationResponse(
            Servers=[RaftServer(ID=view.id, Node=names.get(view.id, view.id),
                                Address=view.address, Leader=view.address == leader,
                                Voter=view.voter) for view in consensus.servers()],
            Index=consensus.last_index())

    async def RaftRemovePeerByID(self, req: RaftPeerRequest) -> bool:
        self._require(req, "operator_write")
        for view in self.server.consensus.servers():
            if view.id == req.ID:
                return await self._remove(view.id)
        raise BadRequest(f'id "{req.ID}" was not found in the Raft configuration')

    async def RaftRemovePeerByAddress(self, req: RaftPeerRequest) -> bool:
        self._require(req, "operator_write")
        for view in self.server.consensus.servers():
            if view.address == req.Address:
                return await self._remove(view.id)
        raise BadRequest(f'address "{req.Address}" was not found in the Raft configuration')

    async def _remove(self, server_id: str) -> bool:
        try:
            await self.server.consensus.remove_server(server_id)
        except ConsensusError as err:
            raise ConsulError(f"failed to remove raft peer: {err}") from None
        return True

    async def RaftTransferLeader(self, req: RaftPeerRequest) -> bool:
        self._require(req, "operator_write")
        try:
            await self.server.consensus.transfer_leadership(req.ID or None)
        except ConsensusError as err:
            raise ConsulError(f"cannot transfer leadership: {err}") from None
        return True

    async def AutopilotGetConfiguration(self, req: Any) -> AutopilotConfig:
        self._require(req, "operator_read")
        return self.server.autopilot.config()

    async def AutopilotSetConfiguration(self, req: AutopilotSetConfigRequest) -> bool:
        self._require(req, "operator_write")
        for name in ("LastContactThreshold", "ServerStabilizationTime"):
            try:
                parse_duration(getattr(req.Config, name))
            except DurationError as err:
                raise BadRequest(f"invalid {name}: {err}") from None
        return bool(await self.server.raft_apply(MessageType.AUTOPILOT, req))

    async def ServerHealth(self, req: Any) -> OperatorHealthReply:
        self._require(req, "operator_read")
        return self.server.autopilot.health()

    async def Usage(self, req: OperatorUsageRequest) -> Usage:
        """Service and node counts of this datacenter (the only one a server knows of
        until federation: ``Global`` adds none); needs ``operator:read``."""
        self._require(req, "operator_read")
        store, dc = self.server.store, self.server.config.datacenter

        def read(ws) -> tuple[int, ServiceUsage]:
            nodes_index, nodes = store.list_nodes(ws)
            services_index, instances = store.list_services(ws)
            return max(nodes_index, services_index), service_usage(instances, len(nodes))

        return await self.server.read_into(req, Usage(), "Usage", read, lambda u: {dc: u})


def service_usage(instances: list[ServiceNode], nodes: int) -> ServiceUsage:
    """Consul's counts: unique names, instances, Connect instances by kind, and billable
    instances (typical services other than the servers' ``consul``)."""
    kinds = dict.fromkeys(CONNECT_USAGE_KINDS, 0)
    billable = 0
    for row in instances:
        if row.ServiceKind:
            if row.ServiceKind in kinds:
                kinds[row.ServiceKind] += 1
            continue
        if row.ServiceConnect.Native:
            kinds["connect-native"] += 1
        if row.ServiceName != "consul":
            billable += 1
    return ServiceUsage(Services=len({row.ServiceName for row in instances}),
                        ServiceInstances=len(instances), ConnectServiceInstances=kinds,
                        BillableServiceInstances=billable, Nodes=nodes)
