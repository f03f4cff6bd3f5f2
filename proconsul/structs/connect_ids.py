"""Connect identities: the SPIFFE URIs Consul puts in certificates.

Trust domain ``<cluster-id>.consul``; the forms are

- service       ``spiffe://<td>[/ap/<partition>]/ns/<ns>/dc/<dc>/svc/<service>``
- agent         ``spiffe://<td>[/ap/<partition>]/agent/client/dc/<dc>/id/<node>``
- server        ``spiffe://<td>/agent/server/dc/<dc>``
- mesh gateway  ``spiffe://<td>[/ap/<partition>]/gateway/mesh/dc/<dc>``
- signing (CA)  ``spiffe://<cluster-id>.consul`` (no path)

The partition segment appears only for a non-default partition.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

__all__ = [
    "CertURI",
    "InvalidCertURI",
    "SpiffeIDAgent",
    "SpiffeIDMeshGateway",
    "SpiffeIDServer",
    "SpiffeIDService",
    "SpiffeIDSigning",
    "ca_common_name",
    "compact_uid",
    "parse_cert_uri",
    "peering_server_san",
    "signing_id_for_cluster",
]

DEFAULT = "default"
SIGNING_DOMAIN = "consul"  # fixed, independent of the agent's DNS domain, as in Consul

_SEG = "([^/]+)"
_SERVICE = re.compile(rf"^(?:/ap/{_SEG})?/ns/{_SEG}/dc/{_SEG}/svc/{_SEG}$")
_AGENT = re.compile(rf"^(?:/ap/{_SEG})?/agent/client/dc/{_SEG}/id/{_SEG}$")
_SERVER = re.compile(rf"^/agent/server/dc/{_SEG}$")
_MESH_GATEWAY = re.compile(rf"^(?:/ap/{_SEG})?/gateway/mesh/dc/{_SEG}$")
_NOT_DNS = re.compile(r"[^a-z0-9]")
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


class InvalidCertURI(ValueError):
    """A URI is not one of Connect's SPIFFE identities."""


def _seg(value: str) -> str:
    # Go's URL path escaping: unreserved characters and $&+,:;=@ stay as they are.
    return quote(value, safe="$&+,:;=@")


def _partition_prefix(partition: str) -> str:
    return "" if partition in ("", DEFAULT) else "/ap/" + _seg(partition)


@dataclass(frozen=True, slots=True)
class SpiffeIDService:
    """A service's identity."""

    host: str
    datacenter: str
    service: str
    namespace: str = DEFAULT
    partition: str = DEFAULT

    def uri(self) -> str:
        return (f"spiffe://{self.host}{_partition_prefix(self.partition)}"
                f"/ns/{_seg(self.namespace or DEFAULT)}/dc/{_seg(self.datacenter)}"
                f"/svc/{_seg(self.service)}")


@dataclass(frozen=True, slots=True)
class SpiffeIDAgent:
    """A client agent's identity (its node name)."""

    host: str
    datacenter: str
    agent: str
    partition: str = DEFAULT

    def uri(self) -> str:
        return (f"spiffe://{self.host}{_partition_prefix(self.partition)}"
                f"/agent/client/dc/{_seg(self.datacenter)}/id/{_seg(self.agent)}")


@dataclass(frozen=True, slots=True)
class SpiffeIDServer:
    """The identity every server of a datacenter shares."""

    host: str
    datacenter: str

    def uri(self) -> str:
        return f"spiffe://{self.host}/agent/server/dc/{_seg(self.datacenter)}"


@dataclass(frozen=True, slots=True)
class SpiffeIDMeshGateway:
    """The identity of a datacenter's mesh gateways."""

    host: str
    datacenter: str
    partition: str = DEFAULT

    def uri(self) -> str:
        return (f"spiffe://{self.host}{_partition_prefix(self.partition)}"
                f"/gateway/mesh/dc/{_seg(self.datacenter)}")


@dataclass(frozen=True, slots=True)
class SpiffeIDSigning:
    """A CA's identity: the trust domain ``<cluster-id>.<domain>``."""

    cluster_id: str
    domain: str = SIGNING_DOMAIN

    @property
    def host(self) -> str:
        """The trust domain, lower-cased (hostnames are case-insensitive)."""
        return f"{self.cluster_id}.{self.domain}".lower()

    def uri(self) -> str:
        return f"spiffe://{self.host}"

    def can_sign(self, other: CertURI) -> bool:
        """Whether this CA may sign for ``other``: same trust domain, by ASCII case folding."""
        if isinstance(other, SpiffeIDSigning):
            return other.uri() == self.uri()
        return other.host.lower() == self.host


CertURI = SpiffeIDService | SpiffeIDAgent | SpiffeIDServer | SpiffeIDMeshGateway | SpiffeIDSigning


def signing_id_for_cluster(cluster_id: str) -> SpiffeIDSigning:
    """The signing identity (trust domain) of a cluster's CA."""
    return SpiffeIDSigning(cluster_id=cluster_id, domain=SIGNING_DOMAIN)


def parse_cert_uri(text: str) -> CertURI:
    """The identity a certificate URI names; InvalidCertURI with Consul's text otherwise."""
    try:
        parts = urlsplit(text)
    except ValueError as exc:
        raise InvalidCertURI(f"SPIFFE ID is not in the expected format: {text}: {exc}") from None
    if parts.scheme.lower() != "spiffe":
        raise InvalidCertURI("SPIFFE ID must have 'spiffe' scheme")
    host, path = parts.netloc, parts.path
    if m := _SERVICE.match(path):
        ap, ns, dc, svc = (unquote(g) if g else g for g in m.groups())
        return SpiffeIDService(host=host, partition=ap or DEFAULT, namespace=ns,
                               datacenter=dc, service=svc)
    if m := _AGENT.match(path):
        ap, dc, node = (unquote(g) if g else g for g in m.groups())
        return SpiffeIDAgent(host=host, partition=ap or DEFAULT, datacenter=dc, agent=node)
    if m := _MESH_GATEWAY.match(path):
        ap, dc = (unquote(g) if g else g for g in m.groups())
        return SpiffeIDMeshGateway(host=host, partition=ap or DEFAULT, datacenter=dc)
    if m := _SERVER.match(path):
        return SpiffeIDServer(host=host, datacenter=unquote(m.group(1)))
    if path == "" and host.find(".") > 0:
        cluster_id, _, domain = host.partition(".")
        return SpiffeIDSigning(cluster_id=cluster_id, domain=domain)
    raise InvalidCertURI(f"SPIFFE ID is not in the expected format: {text}")


def peering_server_san(datacenter: str, trust_domain: str) -> str:
    """The DNS SAN on server leaf certificates for peering traffic."""
    return f"server.{datacenter}.peering.{trust_domain}"


def compact_uid() -> str:
    """Eight random base36 characters, for unique CA common names."""
    return "".join(secrets.choice(_BASE36) for _ in range(8))


def ca_common_name(provider: str, unique_id: str, cluster_id: str, primary: bool) -> str:
    """A CA certificate's CN: ``{pri|sec}-<uid8>.<provider>.ca.<cluster-id first 8>.consul``."""
    provider_part = _NOT_DNS.sub("", provider.lower())[:32]
    uid = _NOT_DNS.sub("", unique_id.lower())[:8]
    kind = "pri" if primary else "sec"
    return f"{kind}-{uid}.{provider_part}.ca.{cluster_id[:8]}.consul"
