"""The key/certificate pairs of the gRPC TLS listener: the configured one (``tls.grpc``
or ``tls.defaults``) for Envoy and other clients, and on a server the peering one, the
server's own Connect leaf for ``server.<dc>.peering.<trust-domain>``.

gRPC core keeps one TLS context per pair and picks the pair whose certificate
names the client's SNI, else the first: peering dialers get the Connect leaf,
everyone else the configured certificate. The pairs are handed to gRPC through
dynamic credentials, so a renewed peering certificate is served from the next
handshake on without restarting the listener. A server with no configured
certificate serves a throwaway self-signed one until its first peering leaf comes.
"""

from __future__ import annotations

from pathlib import Path

import grpc

from proconsul.agent.config.runtime import TLSSettings
from proconsul.lib.pki import SERVER_AUTH, new_ca, new_leaf
from proconsul.structs.errors import ConsulError

__all__ = ["GrpcCertificates"]

Pair = tuple[bytes, bytes]  # (private key PEM, certificate chain PEM)


class GrpcCertificates:
    """The listener's pairs; :meth:`set_peering` swaps the peering one in."""

    def __init__(self, tls: TLSSettings, node_name: str) -> None:
        self.configured: Pair | None = None
        self.root_certificates: bytes | None = None
        self.require_client_auth = False
        if tls.cert_file and tls.key_file:
            try:
                self.configured = (Path(tls.key_file).read_bytes(),
                                   Path(tls.cert_file).read_bytes())
                if tls.ca_file:
                    self.root_certificates = Path(tls.ca_file).read_bytes()
            except OSError as err:
                raise ConsulError(f"gRPC TLS: cannot read {err.filename}: "
                                  f"{err.strerror}") from None
            self.require_client_auth = bool(tls.verify_incoming and self.root_certificates)
        self.peering: Pair | None = None
        self.placeholder: Pair | None = None
        if self.configured is None:
            ca = new_ca(f"{node_name} placeholder", 1)
            leaf = new_leaf(ca, node_name, 1, [node_name], [], [SERVER_AUTH])
            self.placeholder = (leaf.key_pem, leaf.cert_pem)
        self._version = 0
        self._served = 0

    def set_peering(self, cert_pem: str, key_pem: str) -> None:
        """Serve this leaf (and its chain) to peering dialers from the next handshake."""
        self.peering = (key_pem.encode(), cert_pem.encode())
        self._version += 1

    def pairs(self) -> list[Pair]:
        """What gRPC serves, the default (no SNI match) first."""
        pairs = [p for p in (self.configured, self.peering) if p is not None]
        return pairs or [self.placeholder]

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.dynamic_ssl_server_credentials(
            self._configuration(), self._fetch,
            require_client_authentication=self.require_client_auth)

    def _configuration(self) -> grpc.ServerCertificateConfiguration:
        self._served = self._version
        return grpc.ssl_server_certificate_configuration(self.pairs(), self.root_certificates)

    def _fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """Asked by gRPC before each handshake: a new configuration, or None for no change."""
        return self._configuration() if self._served != self._version else None
