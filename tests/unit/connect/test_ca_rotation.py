"""Root rotation with cross-signing, pruning, secondary-datacenter intermediates."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from msgspec import UNSET, structs

from proconsul.lib.connect_pki import hex_string, load_cert, load_csr
from proconsul.server.connect.ca import (
    ERR_NO_CROSS_SIGNING,
    ConsulCAProvider,
    ProviderError,
    indexed_roots,
    initial_root,
    new_ca_root,
    primary_root_update,
    prune_roots,
    roots_pem,
    rotate_roots,
    set_leaf_signing_cert,
)
from proconsul.structs.connect import parse_ca_config
from tests.unit.connect.cahelpers import CA, NOW, openssl_verify

LATER = NOW + datetime.timedelta(hours=1)


def _rotate(ca: CA, **config) -> tuple[list, str]:
    """Rotate ``ca`` to a new key (new provider config); the roots list and cross-signed PEM."""
    old_provider, old_root = ca.provider, ca.root
    new_provider = ConsulCAProvider(parse_ca_config(config), ca.cluster_id)
    pem, new_provider.state = new_provider.generate_ca_chain(ca.next_serial(), LATER)
    new_root = new_ca_root(pem, "consul", ca.cluster_id)
    cross = old_provider.cross_sign_ca(load_cert(pem), ca.next_serial(), LATER)
    roots = rotate_roots([old_root], new_root, LATER, cross)
    ca.provider, ca.root = new_provider, roots[-1]
    return roots, cross


@pytest.mark.parametrize(("old", "new"), [
    ({}, {}),
    ({}, {"PrivateKeyType": "rsa", "PrivateKeyBits": 2048}),
    ({"PrivateKeyType": "rsa", "PrivateKeyBits": 2048}, {"PrivateKeyBits": 384}),
])
def test_leaves_of_old_and_new_roots_verify_each_other(tmp_path, old, new):
    ca = CA(**old)
    old_root_pem = ca.root.RootCert
    old_leaf, _ = ca.leaf("web")
    roots, cross = _rotate(ca, **new)
    new_leaf, _ = ca.leaf("api")
    at = LATER + datetime.timedelta(minutes=5)

    # the new leaf carries the cross-signed root after it
    chain = x509.load_pem_x509_certificates(new_leaf.CertPEM.encode())
    assert len(chain) == 2 and chain[1] == load_cert(cross)
    # a peer that still trusts only the old root accepts the new leaf through the chain
    ok, out = openssl_verify(tmp_path / "a", new_leaf.CertPEM, [old_root_pem], [cross], at=at)
    assert ok, out
    # without the cross-signed certificate it would not
    ok, _ = openssl_verify(tmp_path / "b", new_leaf.CertPEM, [old_root_pem], at=at)
    assert not ok
    # a peer with the new roots bundle accepts old and new leaves
    bundle = roots_pem(roots)
    for name, leaf in (("c", old_leaf.CertPEM), ("d", new_leaf.CertPEM)):
        ok, out = openssl_verify(tmp_path / name, leaf, [bundle], at=at)
        assert ok, out
    # and the new root alone accepts the new leaf
    ok, out = openssl_verify(tmp_path / "e", new_leaf.CertPEM, [ca.root.RootCert], at=at)
    assert ok, out


def test_cross_signed_certificate_shape():
    ca = CA()
    old_cert = load_cert(ca.root.RootCert)
    _, cross_pem = _rotate(ca, PrivateKeyType="rsa", PrivateKeyBits=2048)
    cross, new_cert = load_cert(cross_pem), load_cert(ca.root.RootCert)
    assert cross.subject == new_cert.subject and cross.issuer == old_cert.subject
    assert cross.public_key().public_numbers() == new_cert.public_key().public_numbers()
    ski = cross.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == new_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = cross.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == old_cert.extensions.get_extension_for_class(
        x509.SubjectKeyIdentifier).value.digest
    assert cross.not_valid_before_utc == LATER - datetime.timedelta(minutes=1)
    assert cross.not_valid_after_utc == LATER + datetime.timedelta(days=7, minutes=-1)
    assert cross.serial_number == 3  # serials: old root 1, new root 2, cross-signed 3
    cross.verify_directly_issued_by(old_cert)


def test_cross_signing_can_be_disabled():
    ca = CA(DisableCrossSigning=True)
    assert not ca.provider.supports_cross_signing()
    with pytest.raises(ProviderError, match="^cross-signing disabled$"):
        ca.provider.cross_sign_ca(load_cert(ca.root.RootCert), 2, NOW)


def test_rotate_and_prune_roots():
    ca = CA()
    old = ca.root
    roots, _ = _rotate(ca)
    assert [r.Active for r in roots] == [False, True]
    assert roots[0].ID == old.ID and roots[0].RotatedOutAt == LATER
    assert roots[1].RotatedOutAt is UNSET and len(roots[1].IntermediateCerts) == 1
    leaf_ttl = 72 * 3600 * 10**9
    assert prune_roots(roots, LATER + datetime.timedelta(hours=144), leaf_ttl) is None
    pruned = prune_roots(roots, LATER + datetime.timedelta(hours=144, seconds=1), leaf_ttl)
    assert [r.ID for r in pruned] == [roots[1].ID]
    # rotating again stamps only the root that was active
    again = rotate_roots(roots, CA().root, LATER + datetime.timedelta(hours=2))
    assert [r.RotatedOutAt for r in again[:2]] == [LATER, LATER + datetime.timedelta(hours=2)]
    assert [r.Active for r in again] == [False, False, True]


def test_secondary_intermediate_signs_leaves(tmp_path):
    primary = CA()
    secondary_ca = ConsulCAProvider(parse_ca_config({}), primary.cluster_id, is_primary=False)
    with pytest.raises(ProviderError, match="not the root certificate authority"):
        secondary_ca.generate_ca_chain(1, NOW)
    csr_pem, secondary_ca.state = secondary_ca.generate_intermediate_csr()
    csr = load_csr(csr_pem)
    intermediate_pem = primary.provider.sign_intermediate(csr, primary.next_serial(), NOW)
    intermediate = load_cert(intermediate_pem)
    bc = intermediate.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    assert intermediate.not_valid_before_utc == NOW - datetime.timedelta(minutes=1)
    assert intermediate.not_valid_after_utc == NOW + datetime.timedelta(hours=8760, minutes=-1)
    # wrong key: refused
    other_csr, _ = ConsulCAProvider(parse_ca_config({}), primary.cluster_id,
                                    is_primary=False).generate_intermediate_csr()
    foreign = primary.provider.sign_intermediate(load_csr(other_csr), primary.next_serial(), NOW)
    with pytest.raises(ProviderError, match="^intermediate cert is for a different private key$"):
        secondary_ca.set_intermediate(foreign, primary.root.RootCert)
    with pytest.raises(ProviderError, match="^intermediate is not a CA certificate$"):
        secondary_ca.set_intermediate(primary.leaf()[0].CertPEM, primary.root.RootCert)
    secondary_ca.state = secondary_ca.set_intermediate(intermediate_pem, primary.root.RootCert)
    assert secondary_ca.active_leaf_signing_cert() == intermediate_pem

    secondary = CA.__new__(CA)
    secondary.cluster_id, secondary.datacenter, secondary.serial = primary.cluster_id, "dc2", 100
    secondary.provider = secondary_ca
    secondary.root = set_leaf_signing_cert(primary.root, intermediate_pem, NOW)
    assert secondary.root.SigningKeyID == hex_string(intermediate.extensions.get_extension_for_class(
        x509.SubjectKeyIdentifier).value.digest) != primary.root.SigningKeyID
    issued, _ = secondary.leaf("web")
    assert issued.ServiceURI.endswith("/dc/dc2/svc/web")
    ok, out = openssl_verify(tmp_path, issued.CertPEM, [primary.root.RootCert],
                             [intermediate_pem], at=NOW + datetime.timedelta(minutes=1))
    assert ok, out


def test_sign_intermediate_refuses_foreign_trust_domain():
    primary, other = CA(), CA()
    secondary = ConsulCAProvider(parse_ca_config({}), other.cluster_id, is_primary=False)
    csr_pem, _ = secondary.generate_intermediate_csr()
    with pytest.raises(ProviderError) as exc:
        primary.provider.sign_intermediate(load_csr(csr_pem), 9, NOW)
    assert str(exc.value) == (f'incoming CSR domain "spiffe://{other.trust_domain}" is not valid '
                              f'for our domain "spiffe://{primary.trust_domain}"')


def test_indexed_roots_reply():
    ca = CA()
    old = ca.root
    roots, _ = _rotate(ca)
    roots[0] = structs.replace(roots[0], SigningKey="SECRET")
    reply = indexed_roots(roots, ca.cluster_id.upper(), index=12)
    assert reply.ActiveRootID == roots[1].ID != old.ID
    assert reply.TrustDomain == ca.trust_domain and reply.Index == 12
    assert [r.SigningKey for r in reply.Roots] == [UNSET, UNSET]
    assert indexed_roots([], "").TrustDomain == ""


def _update(ca: CA, force: bool = False, **config):
    new_provider = ConsulCAProvider(parse_ca_config(config), ca.cluster_id)
    return primary_root_update(
        old_provider=ca.provider, roots=[ca.root], new_provider=new_provider,
        provider_name="consul", cluster_id=ca.cluster_id, force_without_cross_signing=force,
        serials=iter([10, 11]), now=LATER)


def test_primary_root_update_rotates_with_cross_signed_root_first(tmp_path):
    ca = CA()
    update = _update(ca, PrivateKeyType="rsa", PrivateKeyBits=2048)
    old, new = update.roots
    assert (old.ID, old.Active, old.RotatedOutAt) == (ca.root.ID, False, LATER)
    assert new is update.active_root and new.Active and new.PrivateKeyType == "rsa"
    assert update.provider_state.RootCert == new.RootCert
    cross = load_cert(new.IntermediateCerts[0])
    assert cross.serial_number == 11 and load_cert(new.RootCert).serial_number == 10
    assert cross.issuer == load_cert(ca.root.RootCert).subject


def test_primary_root_update_same_key_is_config_only():
    ca = CA()
    same = {"PrivateKey": ca.provider.state.PrivateKey, "RootCert": ca.root.RootCert}
    update = _update(ca, **same)
    assert update.roots is None and update.active_root.ID == ca.root.ID


def test_primary_root_update_without_cross_signing():
    ca = CA(DisableCrossSigning=True)
    with pytest.raises(ProviderError) as exc:
        _update(ca)
    assert str(exc.value) == ERR_NO_CROSS_SIGNING
    update = _update(ca, force=True)
    assert [r.Active for r in update.roots] == [False, True]
    assert update.active_root.IntermediateCerts is None


def test_initial_root():
    provider = ConsulCAProvider(parse_ca_config({}), "c0ffee00-1111-2222-3333-444444444444")
    root, state = initial_root(provider, "consul", provider.cluster_id, 1, NOW)
    assert root.Active and root.RootCert == state.RootCert and state.PrivateKey
    assert root.ExternalTrustDomain == provider.cluster_id


def test_set_leaf_signing_cert_drops_expired_intermediates():
    primary = CA()
    old_csr, _ = ConsulCAProvider(parse_ca_config({}), primary.cluster_id,
                                  is_primary=False).generate_intermediate_csr()
    old = primary.provider.sign_intermediate(load_csr(old_csr), 50, NOW)
    root = set_leaf_signing_cert(primary.root, old, NOW)
    new = primary.provider.sign_intermediate(load_csr(old_csr), 51, NOW)
    year = datetime.timedelta(hours=8760)
    assert set_leaf_signing_cert(root, new, NOW).IntermediateCerts == [old, new]
    assert set_leaf_signing_cert(root, new, NOW + year).IntermediateCerts == [new]
