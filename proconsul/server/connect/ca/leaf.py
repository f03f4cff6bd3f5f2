"""Leaf signing as ConnectCA.Sign does it, minus ACLs and raft: check the CSR,
check the identity against this cluster and datacenter, sign, and build the
:class:`IssuedCert` reply (leaf PEM followed by the active root's intermediates).

Order of a Sign call: ``parse_leaf_csr`` → ACL check on the identity (the
caller: service:write, node:write, mesh:write, operator:write for servers)
→ ``check_leaf_identity`` → rate limit → ``sign_leaf``.
"""

from __future__ import annotations

import datetime

from cryptography import x509

from proconsul.lib.connect_pki import PKIError, encode_serial, load_cert, load_csr
from proconsul.server.connect.ca.provider import InvalidCSR, Provider, ProviderError
from proconsul.structs.connect import CARoot, IssuedCert
from proconsul.structs.connect_ids import (
    CertURI,
    InvalidCertURI,
    SpiffeIDAgent,
    SpiffeIDMeshGateway,
    SpiffeIDServer,
    SpiffeIDService,
    parse_cert_uri,
    signing_id_for_cluster,
)
from proconsul.structs.service_kinds import MESH_GATEWAY

__all__ = ["check_leaf_identity", "parse_leaf_csr", "sign_leaf"]



def parse_leaf_csr(csr_pem: str) -> tuple[x509.CertificateSigningRequest, CertURI]:
    """The CSR and the identity its one URI SAN names; InvalidCSR otherwise."""
    try:
        csr = load_csr(csr_pem)
    except PKIError as exc:
        raise InvalidCSR(str(exc)) from None
    try:
        if not csr.is_signature_valid:
            raise InvalidCSR("CSR signature is not valid")
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise InvalidCSR("CSR SAN contains an invalid number of URIs: 0") from None
    except (ValueError, TypeError) as exc:  # malformed or duplicate extensions, odd keys
        raise InvalidCSR(f"invalid CSR: {exc}") from None
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    if len(uris) != 1:
        raise InvalidCSR(f"CSR SAN contains an invalid number of URIs: {len(uris)}")
    if san.get_values_for_type(x509.RFC822Name):
        raise InvalidCSR("CSR SAN does not allow specifying email addresses")
    try:
        return csr, parse_cert_uri(uris[0])
    except InvalidCertURI as exc:
        raise InvalidCSR(str(exc)) from None


def check_leaf_identity(identity: CertURI, *, cluster_id: str, datacenter: str) -> CertURI:
    """``identity`` if this datacenter's CA may sign it; an agent's trust domain is
    replaced by ours (agents ask before they know it), as Consul does."""
    if isinstance(identity, SpiffeIDService | SpiffeIDMeshGateway | SpiffeIDServer):
        if identity.datacenter != datacenter:
            raise InvalidCSR("SPIFFE ID in CSR from a different datacenter: "
                             f"{identity.datacenter}, we are {datacenter}")
    elif not isinstance(identity, SpiffeIDAgent):
        raise InvalidCSR("SPIFFE ID in CSR must be a service, mesh-gateway, or agent ID")
    signing = signing_id_for_cluster(cluster_id)
    if isinstance(identity, SpiffeIDAgent):
        if identity.host != signing.host:
            return SpiffeIDAgent(host=signing.host, datacenter=identity.datacenter,
                                 agent=identity.agent, partition=identity.partition)
        return identity
    if not signing.can_sign(identity):
        raise InvalidCSR("SPIFFE ID in CSR from a different trust domain: "
                         f"{identity.host}, we are {signing.host}")
    return identity


def sign_leaf(provider: Provider, csr: x509.CertificateSigningRequest, identity: CertURI,
              active_root: CARoot, *, serial: int, now: datetime.datetime,
              index: int = 0) -> IssuedCert:
    """Sign and build the reply; ``index`` is the raft index the caller recorded it at."""
    if active_root.NotAfter < now:
        raise ProviderError("root expired: certificate expired, expiration date: "
                            f"{_go_time(active_root.NotAfter)}")
    pem = provider.sign(csr, identity.uri(), serial, now)
    for intermediate in active_root.IntermediateCerts or ():
        pem += intermediate if intermediate.endswith("\n") else intermediate + "\n"
    cert = load_cert(pem)
    uri = identity.uri()
    reply = IssuedCert(SerialNumber=encode_serial(cert.serial_number), CertPEM=pem,
                       ValidAfter=cert.not_valid_before_utc, ValidBefore=cert.not_valid_after_utc,
                       CreateIndex=index, ModifyIndex=index)
    if isinstance(identity, SpiffeIDService):
        reply.Service, reply.ServiceURI = identity.service, uri
    elif isinstance(identity, SpiffeIDMeshGateway):
        reply.Kind, reply.KindURI = MESH_GATEWAY, uri
    elif isinstance(identity, SpiffeIDAgent):
        reply.Agent, reply.AgentURI = identity.agent, uri
    else:
        reply.ServerURI = uri
    return reply


def _go_time(when: datetime.datetime) -> str:
    """Go's time.Time String() form for a UTC time."""
    return when.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S +0000 UTC")
