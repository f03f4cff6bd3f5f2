"""The trusted-roots list: a CARoot from a PEM, rotation, pruning, the PEM bundle.

Rotation (ConfigurationSet with a new key, key type or provider): the new
root's certificate, cross-signed by the old root's key, goes into the new
root's IntermediateCerts so that peers which trust only the old root accept
leaves of the new one; the old root stays trusted, inactive, until it has
been rotated out for two leaf lifetimes.
"""

from __future__ import annotations

import datetime

from cryptography import x509
from msgspec import structs

from proconsul.lib.connect_pki import cert_fingerprint, hex_string, key_info, load_cert
from proconsul.structs.base import UNSET
from proconsul.structs.connect import CARoot, IndexedCARoots
from proconsul.structs.connect_ids import signing_id_for_cluster

__all__ = [
    "indexed_roots",
    "new_ca_root",
    "prune_roots",
    "roots_pem",
    "rotate_roots",
    "set_leaf_signing_cert",
]

_PRETTY = {"consul": "Consul", "vault": "Vault", "aws-pca": "Aws-Pca"}


def new_ca_root(pem: str, provider: str, cluster_id: str) -> CARoot:
    """An active CARoot describing the root certificate ``pem``."""
    cert = load_cert(pem)
    key_type, key_bits = key_info(cert.public_key())
    try:
        ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        ski = b""
    return CARoot(
        ID=cert_fingerprint(cert),
        Name=f"{_PRETTY.get(provider, provider)} CA Primary Cert",
        SerialNumber=cert.serial_number & 0xFFFF_FFFF_FFFF_FFFF,
        SigningKeyID=hex_string(ski),
        ExternalTrustDomain=cluster_id,
        NotBefore=cert.not_valid_before_utc,
        NotAfter=cert.not_valid_after_utc,
        RootCert=pem if pem.endswith("\n") else pem + "\n",
        PrivateKeyType=key_type,
        PrivateKeyBits=key_bits,
        Active=True,
    )


def rotate_roots(roots: list[CARoot], new_root: CARoot, now: datetime.datetime,
                 cross_signed_pem: str = "") -> list[CARoot]:
    """The roots after ``new_root`` becomes active; the old active one is kept, inactive,
    stamped RotatedOutAt. ``cross_signed_pem`` goes first in the new root's intermediates
    (a leaf-signing intermediate, if any, stays last)."""
    out = []
    for root in roots:
        if root.ID == new_root.ID:
            continue
        if root.Active:
            root = structs.replace(root, Active=False, RotatedOutAt=now)
        out.append(root)
    intermediates = list(new_root.IntermediateCerts or ())
    if cross_signed_pem:
        intermediates.insert(0, cross_signed_pem)
    out.append(structs.replace(new_root, Active=True, RotatedOutAt=UNSET,
                               IntermediateCerts=intermediates or None))
    return out


def prune_roots(roots: list[CARoot], now: datetime.datetime,
                leaf_cert_ttl_ns: int) -> list[CARoot] | None:
    """The roots without those rotated out more than two leaf TTLs ago; None if none go.
    An inactive root with no RotatedOutAt is kept, as in Consul."""
    keep_for = datetime.timedelta(microseconds=2 * leaf_cert_ttl_ns // 1000)
    kept = [r for r in roots
            if r.Active or r.RotatedOutAt is UNSET or now - r.RotatedOutAt <= keep_for]
    return None if len(kept) == len(roots) else kept


def roots_pem(roots: list[CARoot]) -> str:
    """/v1/connect/ca/roots?pem=true: every root followed by its intermediates."""
    parts = []
    for root in roots:
        for pem in [root.RootCert, *(root.IntermediateCerts or ())]:
            parts.append(pem if pem.endswith("\n") else pem + "\n")
    return "".join(parts)


def indexed_roots(roots: list[CARoot], cluster_id: str, index: int = 0) -> IndexedCARoots:
    """ConnectCA.Roots' reply: the trust domain, the active root's ID and the roots
    without their signing secrets (an empty reply before the CA is initialised)."""
    active = next((r.ID for r in roots if r.Active), "")
    return IndexedCARoots(
        ActiveRootID=active,
        TrustDomain=signing_id_for_cluster(cluster_id).host if cluster_id else "",
        Roots=[r.public() for r in roots], Index=index)


def set_leaf_signing_cert(root: CARoot, pem: str, now: datetime.datetime) -> CARoot:
    """``root`` with ``pem`` (an intermediate that now signs leaves) appended to its
    intermediates, expired intermediates dropped, and SigningKeyID set to its key ID."""
    cert = load_cert(pem)
    try:
        ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        ski = b""
    kept = [p for p in root.IntermediateCerts or () if load_cert(p).not_valid_after_utc > now]
    return structs.replace(root, IntermediateCerts=[*kept, pem], SigningKeyID=hex_string(ski))
