"""Txn.*: atomic multi-operation writes, and read-only transactions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from proconsul.lib.metrics import timed
from proconsul.server.acl_vet import filter_txn_results, vet_txn
from proconsul.structs.errors import BadRequest
from proconsul.structs.messages import MessageType
from proconsul.structs.requests import TxnReadRequest, TxnReadResponse
from proconsul.structs.txn import MAX_TXN_OPS, TxnRequest, TxnResponse

if TYPE_CHECKING:
    from proconsul.server.server import Server


class Txn:
    """The Txn RPC service."""

    NAME = "Txn"
    METHODS = ("Apply", "Read")

    def __init__(self, server: Server) -> None:
        self.server = server

    @timed("consul.txn.apply")
    async def Apply(self, req: TxnRequest) -> TxnResponse:
        _check_size(len(req.Ops))
        ident = self.server.authz.resolve(req.Token)
        errors = vet_txn(ident, self.server.store, req.Ops)
        if errors:
            return TxnResponse(Errors=errors)
        response = await self.server.raft_apply(MessageType.TXN, req)
        if isinstance(response, TxnResponse):
            response.Results = filter_txn_results(ident, response.Results)
        return response

    @timed("consul.txn.read")
    async def Read(self, req: TxnReadRequest) -> TxnReadResponse:
        _check_size(len(req.Ops))
        ident = self.server.authz.resolve(req.Token)
        errors = vet_txn(ident, self.server.store, req.Ops)
        if errors:
            reply = TxnReadResponse(Errors=errors)
            self.server.set_query_meta(reply, req)
            return reply
        if req.RequireConsistent:
            await self.server.consensus.verify_leader()
        result = self.server.store.txn_apply(None, req.Ops)
        reply = TxnReadResponse(Results=filter_txn_results(ident, result.Results),
                                Errors=result.Errors)
        self.server.set_query_meta(reply, req)
        return reply


def _check_size(count: int) -> None:
    if count > MAX_TXN_OPS:
        raise BadRequest(f"Transaction contains too many operations ({count} > {MAX_TXN_OPS})")
