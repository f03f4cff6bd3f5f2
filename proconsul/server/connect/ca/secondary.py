"""A secondary datacenter's CA as pure functions: when it needs a new intermediate
from the primary, and which roots it stores.

A secondary signs leaves with an intermediate the primary's active root signed
(over ConnectCA.SignIntermediate).  It trusts what the primary trusts: its roots
list mirrors the primary's, except that its copy of a root it has held keeps its
own intermediates and signing key ID, and the active root carries this
datacenter's intermediate last, so a leaf's chain reads leaf → our intermediate
→ the primary's root (with the primary's cross-signed root before ours while a
rotation is in progress).
"""

from __future__ import annotations

import datetime

from cryptography import x509
from msgspec import structs

from proconsul.lib.connect_pki import PKIError, cert_fingerprint, hex_string, load_cert
from proconsul.server.connect.ca.builtin import CERT_TIME_DRIFT
from proconsul.structs.connect import CAConsulProviderState, CARoot, IndexedCARoots

__all__ = ["ERR_NO_PRIMARY_ROOT", "cluster_id_of", "intermediate_renewal_reason",
           "secondary_active_root", "secondary_roots"]

ERR_NO_PRIMARY_ROOT = "primary datacenter does not have an active root CA for Connect"


def cluster_id_of(roots: IndexedCARoots) -> str:
    """The primary's cluster ID, from its trust domain ``<cluster-id>.consul``."""
    return roots.TrustDomain.split(".", 1)[0]


def intermediate_renewal_reason(state: CAConsulProviderState | None, primary_active: CARoot,
                                now: datetime.datetime) -> str:
    """Why this datacenter needs a new intermediate signed by ``primary_active``
    ("" when the one it has will do): none yet, the primary's root changed, or more
    than half its lifetime has passed (Consul renews then)."""
    if state is None or not state.IntermediateCert or not state.RootCert:
        return "no intermediate yet"
    try:
        root_id = cert_fingerprint(load_cert(state.RootCert))
        intermediate = load_cert(state.IntermediateCert)
    except PKIError as exc:
        return f"stored intermediate unreadable: {exc}"
    if root_id != primary_active.ID:
        return "the primary datacenter's active root changed"
    start = intermediate.not_valid_before_utc + CERT_TIME_DRIFT
    end = intermediate.not_valid_after_utc
    if now >= start + (end - start) / 2:
        return "more than half of the intermediate's lifetime has passed"
    return ""


def secondary_active_root(primary_active: CARoot, intermediate_pem: str) -> CARoot:
    """Our representation of the primary's active root: its intermediates (a
    cross-signed root during rotation) followed by ours, and our signing key ID."""
    cert = load_cert(intermediate_pem)
    try:
        ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        ski = b""
    others = [p for p in primary_active.IntermediateCerts or () if p != intermediate_pem]
    return structs.replace(primary_active, IntermediateCerts=[*others, intermediate_pem],
                           SigningKeyID=hex_string(ski), CreateIndex=0, ModifyIndex=0)


def secondary_roots(stored: list[CARoot], primary: list[CARoot], active: CARoot,
                    now: datetime.datetime) -> list[CARoot] | None:
    """The roots to store: the primary's list in its order (so what it prunes goes
    here too), ``active`` in place of its active root, and our own copy of every
    other root we hold (intermediates and signing key ID are ours; one that was
    active here is stamped RotatedOutAt ``now``). None if nothing changes."""
    ours = {root.ID: root for root in stored}
    out = []
    for root in primary:
        if root.ID == active.ID:
            out.append(active)
            continue
        mine = ours.get(root.ID)
        if mine is None:
            out.append(structs.replace(root, Active=False, CreateIndex=0, ModifyIndex=0))
        else:
            rotated_out = now if mine.Active else mine.RotatedOutAt
            out.append(structs.replace(mine, Active=False, RotatedOutAt=rotated_out))
    if not any(root.ID == active.ID for root in out):
        out.append(active)
    return None if _same(stored, out) else out


def _same(a: list[CARoot], b: list[CARoot]) -> bool:
    def key(root: CARoot):
        return structs.replace(root, CreateIndex=0, ModifyIndex=0)

    return len(a) == len(b) and all(key(x) == key(y) for x, y in zip(a, b, strict=True))
