"""ExchangeSecret, Consul's ``PeerStreamService/ExchangeSecret``: the dialing cluster
trades the token's one-time establishment secret for a long-lived stream secret.

:func:`peerstream_handler` serves the service on a server's gRPC TLS port (the call is
answered by the leader, through ``Peering.ExchangeSecret``) and StreamResources (the
leader's :class:`~proconsul.server.peering.stream.manager.PeeringStreams`). :func:`exchange_secret` is the
dialer's side: TLS to one of the token's addresses, trusting the token's CA roots and
checking the token's server name."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc

from proconsul.server.peering.channel import peer_channel
from proconsul.structs import pbpeerstream as pb
from proconsul.structs.errors import ConsulError, Forbidden
from proconsul.structs.peering import ExchangeSecretRequest

if TYPE_CHECKING:
    from proconsul.server.server import Server

DIAL_TIMEOUT = 10.0  # per address, as Consul's dial context
_STATUS_BY_HTTP = {400: grpc.StatusCode.INVALID_ARGUMENT, 403: grpc.StatusCode.PERMISSION_DENIED,
                   404: grpc.StatusCode.NOT_FOUND}


def _go_code(code: grpc.StatusCode) -> str:
    """grpc-go's name of a status code (PERMISSION_DENIED -> PermissionDenied)."""
    return "".join(part.capitalize() for part in code.name.split("_"))


def peerstream_handler(server: Server) -> grpc.GenericRpcHandler:
    """The PeerStreamService methods for a grpc.aio server."""

    async def exchange(request: pb.ExchangeSecretRequest, context: grpc.aio.ServicerContext
                       ) -> pb.ExchangeSecretResponse:
        try:
            reply = await server.rpc("Peering.ExchangeSecret", ExchangeSecretRequest(
                PeerID=request.PeerID, EstablishmentSecret=request.EstablishmentSecret))
        except ConsulError as err:
            code = _STATUS_BY_HTTP.get(getattr(err, "status", 500), grpc.StatusCode.INTERNAL)
            await context.abort(code, str(err))
        except (ConnectionError, TimeoutError) as err:  # the leader could not be reached
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(err) or type(err).__name__)
        return pb.ExchangeSecretResponse(StreamSecret=reply.StreamSecret)

    return grpc.method_handlers_generic_handler(pb.SERVICE, {
        "ExchangeSecret": grpc.unary_unary_rpc_method_handler(
            exchange, request_deserializer=pb.ExchangeSecretRequest.FromString,
            response_serializer=pb.ExchangeSecretResponse.SerializeToString),
        "StreamResources": grpc.stream_stream_rpc_method_handler(
            server.peering_streams.stream_resources, request_deserializer=pb.ReplicationMessage.FromString,
            response_serializer=pb.ReplicationMessage.SerializeToString),
    })


async def exchange_secret(addresses: list[str], ca_pems: list[str], server_name: str,
                          peer_id: str, establishment_secret: str) -> str:
    """The stream secret the first address that answers hands back. A refused secret
    ends the attempt (403: the token must be generated again); if no address answers,
    a ConsulError lists why each failed."""
    request = pb.ExchangeSecretRequest(PeerID=peer_id, EstablishmentSecret=establishment_secret)
    failures = []
    for address in addresses:
        async with peer_channel(address, ca_pems, server_name) as channel:
            call = channel.unary_unary(
                pb.EXCHANGE_SECRET, request_serializer=pb.ExchangeSecretRequest.SerializeToString,
                response_deserializer=pb.ExchangeSecretResponse.FromString)
            try:
                reply = await call(request, timeout=DIAL_TIMEOUT)
            except grpc.aio.AioRpcError as err:
                if err.code() is grpc.StatusCode.PERMISSION_DENIED:
                    raise Forbidden(f"a new peering token must be generated: {err.details()}"
                                    ) from None
                failures.append(f'failed to exchange peering secret through address '
                                f'"{address}": rpc error: code = {_go_code(err.code())} '
                                f'desc = {err.details()}')
                continue
        return reply.StreamSecret
    raise ConsulError("; ".join(failures) or "no peer server address to dial")
