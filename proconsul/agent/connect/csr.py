"""The CSR an agent sends for a leaf certificate. The private key is made here
and never leaves the agent: the server only sees the CSR.

What a leaf asks for, by kind (Consul's leaf manager):

- service: its SPIFFE URI plus the DNS SANs requested;
- agent: its URI, DNS ``localhost`` and IPs ``127.0.0.1``, ``::1`` plus extras;
- mesh gateway: the gateway URI plus the DNS SANs requested;
- server: the server URI and DNS ``server.<dc>.peering.<trust-domain>``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from proconsul.lib.connect_pki import SIGNATURE_HASH, generate_private_key
from proconsul.structs.connect_ids import (
    CertURI,
    SpiffeIDAgent,
    SpiffeIDMeshGateway,
    SpiffeIDServer,
    SpiffeIDService,
    peering_server_san,
)
from proconsul.structs.service_kinds import MESH_GATEWAY

__all__ = ["LeafRequest", "LeafRequestError", "make_csr", "make_leaf_csr"]



class LeafRequestError(ValueError):
    """A leaf request names no identity, or one this agent cannot ask for."""


@dataclass(frozen=True)
class LeafRequest:
    """What leaf to ask for: exactly one of service, agent, kind or server."""

    datacenter: str
    service: str = ""
    agent: str = ""
    kind: str = ""
    server: bool = False
    namespace: str = "default"
    partition: str = "default"
    dns_san: tuple[str, ...] = ()
    ip_san: tuple[str, ...] = ()

    def identity(self, trust_domain: str) -> tuple[CertURI, list[str], list[str]]:
        """The URI, DNS SANs and IP SANs of this leaf under ``trust_domain``."""
        if not trust_domain:
            raise LeafRequestError("cluster has no CA bootstrapped yet")
        if self.service:
            return (SpiffeIDService(host=trust_domain, datacenter=self.datacenter,
                                    service=self.service, namespace=self.namespace,
                                    partition=self.partition), list(self.dns_san), [])
        if self.agent:
            return (SpiffeIDAgent(host=trust_domain, datacenter=self.datacenter,
                                  agent=self.agent, partition=self.partition),
                    ["localhost", *self.dns_san], ["127.0.0.1", "::1", *self.ip_san])
        if self.kind == MESH_GATEWAY:
            return (SpiffeIDMeshGateway(host=trust_domain, datacenter=self.datacenter,
                                        partition=self.partition), list(self.dns_san), [])
        if self.kind:
            raise LeafRequestError(f"unsupported kind: {self.kind}")
        if self.server:
            if not self.datacenter:
                raise LeafRequestError("datacenter name must be specified")
            return (SpiffeIDServer(host=trust_domain, datacenter=self.datacenter),
                    [peering_server_san(self.datacenter, trust_domain)], [])
        raise LeafRequestError("URI must be either service, agent, server, or kind")


def make_leaf_csr(request: LeafRequest, trust_domain: str) -> tuple[str, str]:
    """(CSR PEM, private key PEM) for ``request``; the key is a fresh EC P-256 one."""
    identity, dns_names, ips = request.identity(trust_domain)
    return make_csr(identity, dns_names, ips)


def make_csr(identity: CertURI, dns_names: Sequence[str] = (),
             ip_addresses: Sequence[str] = ()) -> tuple[str, str]:
    """A CSR with no subject and a critical SAN: the URI, DNS names (``host:port`` loses
    its port, duplicates dropped) and IP addresses; signed by a new P-256 key."""
    key, key_pem = generate_private_key("ec", 256)
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(identity.uri())]
    seen: set[str] = set()
    for host in dns_names:
        host = host.split(":", 1)[0]
        if host and host not in seen:
            seen.add(host)
            names.append(x509.DNSName(host))
    try:
        names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    except ValueError as exc:
        raise LeafRequestError(str(exc)) from None
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([]))
           .add_extension(x509.SubjectAlternativeName(names), critical=True)
           .sign(key, SIGNATURE_HASH))
    return csr.public_bytes(serialization.Encoding.PEM).decode(), key_pem
