"""gRPC checks (Consul's CheckGRPC): the standard ``grpc.health.v1.Health/Check`` call."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from proconsul.agent.checks.base import IntervalRunner, split_host_port
from proconsul.structs.catalog import HEALTH_CRITICAL, HEALTH_PASSING


class GRPCRunner(IntervalRunner):
    """``GRPC`` is ``host:port[/service]``; SERVING → passing, anything else critical.

    With ``GRPCUseTLS`` the channel uses TLS: roots are the system store plus
    ``ca_file``, ``TLSServerName`` overrides the verified name. gRPC's TLS
    stack cannot switch verification off, so ``TLSSkipVerify`` is emulated by
    fetching the server's certificate and trusting exactly that certificate.
    """

    kind = "grpc"

    def __init__(self, check_id: str, update: Any, *, target: str, use_tls: bool = False,
                 skip_verify: bool = False, server_name: str = "", ca_file: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(check_id, update, **kwargs)
        self.target = target
        server, _, service = target.partition("/")
        self.server = server
        self.service = service
        self.use_tls = use_tls
        self.skip_verify = skip_verify
        self.server_name = server_name
        self.ca_file = ca_file

    async def _credentials(self) -> tuple[grpc.ChannelCredentials, list[tuple[str, Any]]]:
        options: list[tuple[str, Any]] = []
        if self.skip_verify:
            host, port = split_host_port(self.server)
            pem, name = await _peer_certificate(host, port, self.server_name or host,
                                                self.timeout)
            options.append(("grpc.ssl_target_name_override", name))
            return grpc.ssl_channel_credentials(root_certificates=pem), options
        roots = None
        if self.ca_file:
            with open(self.ca_file, "rb") as handle:
                roots = handle.read()
        if self.server_name:
            options.append(("grpc.ssl_target_name_override", self.server_name))
        return grpc.ssl_channel_credentials(root_certificates=roots), options

    async def probe(self) -> None:
        try:
            if self.use_tls:
                credentials, options = await self._credentials()
                channel = grpc.aio.secure_channel(self.server, credentials, options=options)
            else:
                channel = grpc.aio.insecure_channel(self.server)
        except (OSError, ValueError, TimeoutError, ssl.SSLError) as err:
            self.report(HEALTH_CRITICAL, f"connection error: {err or type(err).__name__}")
            return
        try:
            stub = health_pb2_grpc.HealthStub(channel)
            response = await stub.Check(
                health_pb2.HealthCheckRequest(service=self.service), timeout=self.timeout)
        except grpc.aio.AioRpcError as err:
            self.report(HEALTH_CRITICAL, f"rpc error: code = {_code_name(err.code())} "
                                         f"desc = {err.details()}")
            return
        finally:
            await channel.close()
        if response.status != health_pb2.HealthCheckResponse.SERVING:
            status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
            self.report(HEALTH_CRITICAL, f"gRPC {self.target} serving status: {status}")
            return
        self.report(HEALTH_PASSING, f"gRPC check {self.target}: success")


def _code_name(code: grpc.StatusCode) -> str:
    # grpc-go prints codes in CamelCase ("Unavailable", "DeadlineExceeded").
    return "".join(part.capitalize() for part in code.name.split("_"))


async def _peer_certificate(host: str, port: int, name: str,
                            timeout: float) -> tuple[bytes, str]:
    """The server's leaf certificate (PEM) and a name it is valid for."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    _, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port, ssl=context, server_hostname=name), timeout)
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        writer.close()
    pem = ssl.DER_cert_to_PEM_cert(der).encode()
    return pem, _certificate_name(der) or name


def _certificate_name(der: bytes) -> str | None:
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = san.get_values_for_type(x509.DNSName)
        if names:
            return names[0]
    except x509.ExtensionNotFound:
        pass
    common = cert.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
    return str(common[0].value) if common else None
