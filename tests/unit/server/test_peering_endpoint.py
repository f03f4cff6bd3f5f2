"""Peering.* on an in-process server: GenerateToken's token and its refusal while the
peering is being deleted, Delete's marking, and the leader's deletion routine with the
cleanups other parts register."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import AsyncIterator

import pytest

from proconsul.server.server import Server, ServerConfig
from proconsul.structs.errors import BadRequest, Forbidden
from proconsul.structs.messages import MessageType
from proconsul.structs.peering import (
    ExchangeSecretRequest,
    PeeringDeleteByNameRequest,
    PeeringGenerateTokenRequest,
    PeeringReadRequest,
    PeeringTrustBundle,
    PeeringTrustBundleWriteRequest,
)
from proconsul.structs.requests import DCSpecificRequest
from tests.support.in_process_server import wait_for


@contextlib.asynccontextmanager
async def peering_server(peering_enabled: bool = True) -> AsyncIterator[Server]:
    """A started leader with Connect and a gRPC TLS port, its CA initialised."""
    server = Server(ServerConfig(connect_enabled=True, grpc_tls_port=8503,
                                 peering_enabled=peering_enabled))
    server.start()
    try:
        await wait_for(lambda: server.store.ca_roots_read(None)[1]
                       and server.store.service_nodes(None, "consul")[1])
        yield server
    finally:
        await server.stop()


async def generate(server: Server, name: str) -> dict:
    reply = await server.rpc("Peering.GenerateToken", PeeringGenerateTokenRequest(PeerName=name))
    return json.loads(base64.b64decode(reply.PeeringToken))


async def test_a_token_names_this_cluster_and_its_secret_is_exchanged_once():
    async with peering_server() as server:
        token = await generate(server, "dc2")
        trust_domain = (await server.rpc("ConnectCA.Roots", DCSpecificRequest())).TrustDomain
        assert token["ServerName"] == f"server.dc1.peering.{trust_domain}"
        assert token["ServerAddresses"] == ["127.0.0.1:8503"]
        assert token["Remote"] == {"Partition": "default", "Datacenter": "dc1"}
        exchange = ExchangeSecretRequest(PeerID=token["PeerID"],
                                         EstablishmentSecret=token["EstablishmentSecret"])
        stream = (await server.rpc("Peering.ExchangeSecret", exchange)).StreamSecret
        assert server.store.peering_secrets_read(token["PeerID"]).PendingStreamSecretID == stream
        with pytest.raises(Forbidden, match="^invalid peering establishment secret$"):
            await server.rpc("Peering.ExchangeSecret", exchange)


async def test_no_new_token_while_deleting_then_the_routine_removes_everything():
    async with peering_server() as server:
        await server.routines.stop("peering-deletion")  # hold the peering in DELETING
        token = await generate(server, "dc2")
        await server.raft_apply(MessageType.PEERING_TRUST_BUNDLE_WRITE,
                                PeeringTrustBundleWriteRequest(PeeringTrustBundle(
                                    TrustDomain="t.consul", PeerName="dc2", RootPEMs=["x"])))
        assert await server.rpc("Peering.Delete", PeeringDeleteByNameRequest(Name="dc2"))
        marked = server.store.peering_read(None, "dc2")[1]
        assert marked.State == "DELETING" and marked.DeletedAt
        assert server.store.peering_secrets_read(token["PeerID"]) is None
        with pytest.raises(BadRequest, match="^failed to write peering: cannot write to "
                                             "peering that is marked for deletion$"):
            await generate(server, "dc2")
        cleaned = []

        async def cleanup(peering) -> None:
            cleaned.append(peering.Name)
            assert server.store.peering_trust_bundle_read(None, "dc2")[1] is None

        server.peering_deleter.cleanups.append(cleanup)
        server.routines.start("peering-deletion", server.peering_deleter.run)
        await wait_for(lambda: server.store.peering_read(None, "dc2")[1] is None)
        assert cleaned == ["dc2"]
        reply = await server.rpc("Peering.Read", PeeringReadRequest(Name="dc2"))
        assert reply.Peering is None


async def test_peering_disabled_refuses_every_call():
    async with peering_server(peering_enabled=False) as server:
        with pytest.raises(BadRequest, match="^peering must be enabled to use this endpoint$"):
            await generate(server, "dc2")
        assert "peering-deletion" not in server.routines.running()
