"""The agent's external gRPC listeners (``ports.grpc``, ``ports.grpc_tls``) serving ADS
(and, on a server, the services other parts add, such as peering's PeerStreamService)."""

from __future__ import annotations

import logging

import grpc
from envoy.service.discovery.v3 import ads_pb2_grpc

from proconsul.agent.xds.ads import AggregatedDiscoveryService
from proconsul.agent.xds.certificates import GrpcCertificates
from proconsul.structs.errors import ConsulError

log = logging.getLogger("agent.xds")

MAX_MESSAGE = 64 * 1024 * 1024  # a snapshot with many upstreams and roots stays far below


class GrpcServer:
    """One grpc.aio server in the agent's loop with a plaintext and/or a TLS port."""

    def __init__(self, ads: AggregatedDiscoveryService) -> None:
        self.ads = ads
        self.server = grpc.aio.server(options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE),
            ("grpc.max_send_message_length", MAX_MESSAGE),
            ("grpc.so_reuseport", 0),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_ping_interval_without_data_ms", 5000)])
        ads_pb2_grpc.add_AggregatedDiscoveryServiceServicer_to_server(ads, self.server)
        self.addresses: list[str] = []

    def add_handler(self, handler: grpc.GenericRpcHandler) -> None:
        """Serve another gRPC service on these listeners (before :meth:`start`)."""
        self.server.add_generic_rpc_handlers((handler,))

    def listen(self, host: str, port: int, tls: GrpcCertificates | None = None) -> None:
        """Bind now (ConsulError naming the address if it cannot); serve once started."""
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            bound = self.server.add_secure_port(where, tls.credentials()) if tls else \
                self.server.add_insecure_port(where)
        except RuntimeError as err:
            raise ConsulError(f"cannot listen for gRPC on {where}: {err}") from None
        if not bound:
            raise ConsulError(f"cannot listen for gRPC on {where}: address in use")
        self.addresses.append(("grpcs://" if tls else "grpc://") + where)

    async def start(self) -> None:
        await self.server.start()
        for address in self.addresses:
            log.info("gRPC (xDS) listening on %s", address)

    async def run(self) -> None:
        """The supervised routine: serve until stopped."""
        await self.server.wait_for_termination()

    async def stop(self) -> None:
        await self.server.stop(grace=1.0)
