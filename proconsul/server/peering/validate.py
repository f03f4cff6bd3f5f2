"""What a peering request and a peering token must satisfy (Consul's texts)."""

from __future__ import annotations

import re

from cryptography import x509

from proconsul.structs.errors import BadRequest
from proconsul.structs.node_meta import node_meta_problem
from proconsul.structs.peering import PeeringToken

_LABEL = re.compile(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?")


def check_peer_name(name: str) -> None:
    """A peer name is a DNS label (it appears in ``<svc>.virtual.<peer>.consul``)."""
    if not _LABEL.fullmatch(name):
        raise BadRequest(f"{name} is not a valid peer name: a valid DNS label must consist of "
                         "lower case alphanumeric characters or '-', and must start and end "
                         "with an alphanumeric character")


def check_meta(meta: dict[str, str] | None) -> None:
    """Consul's ValidateMetaTags: the node-metadata limits, ``consul-`` keys reserved."""
    problem = node_meta_problem(meta, allow_reserved=False)
    if problem:
        raise BadRequest(f"meta tags failed validation: {problem}")


def check_token(token: PeeringToken) -> None:
    """Consul's validatePeeringToken: parsable CA PEMs, some server address (each
    host:port), a server name and a peer ID."""
    for pem in token.CA or ():
        try:
            x509.load_pem_x509_certificate(pem.encode())
        except ValueError:
            raise BadRequest("peering token CA value is invalid") from None
    if not token.ServerAddresses and not token.ManualServerAddresses:
        raise BadRequest("peering token server addresses value is empty")
    for address in [*(token.ServerAddresses or ()), *(token.ManualServerAddresses or ())]:
        host, sep, port = address.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise BadRequest(f"{address} is not a valid peering server address")
    if not token.ServerName:
        raise BadRequest("peering token server name value is empty")
    if not token.PeerID:
        raise BadRequest("peering token peer ID value is empty")
