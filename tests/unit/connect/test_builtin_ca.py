"""The built-in CA: roots, leaves from agent CSRs, checks on the CSR, openssl verification."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from msgspec import UNSET

from proconsul.agent.connect.csr import LeafRequest, make_csr, make_leaf_csr
from proconsul.lib.connect_pki import hex_string, load_cert, load_private_key
from proconsul.server.connect.ca import (
    ConsulCAProvider,
    InvalidCSR,
    ProviderError,
    check_leaf_identity,
    parse_leaf_csr,
    sign_leaf,
)
from proconsul.structs.connect import parse_ca_config
from proconsul.structs.connect_ids import (
    SpiffeIDAgent,
    SpiffeIDServer,
    SpiffeIDService,
    SpiffeIDSigning,
)
from tests.unit.connect.cahelpers import CA, NOW, openssl_verify


def _ext(cert, cls):
    return cert.extensions.get_extension_for_class(cls)


def _spki_sha256(public_key) -> bytes:
    return hashlib.sha256(public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).digest()


@pytest.mark.parametrize(("key_type", "bits", "key_class"), [
    ("ec", 256, ec.EllipticCurvePublicKey), ("ec", 384, ec.EllipticCurvePublicKey),
    ("rsa", 2048, rsa.RSAPublicKey),
])
def test_root_is_consuls_shape(key_type, bits, key_class):
    ca = CA(PrivateKeyType=key_type, PrivateKeyBits=bits)
    cert = load_cert(ca.root.RootCert)
    assert isinstance(cert.public_key(), key_class)
    assert cert.public_key().key_size == bits
    assert (ca.root.PrivateKeyType, ca.root.PrivateKeyBits) == (key_type, bits)
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn.startswith("pri-") and cn.endswith(f".consul.ca.{ca.cluster_id[:8]}.consul")
    assert cert.issuer == cert.subject
    assert _ext(cert, x509.SubjectAlternativeName).value.get_values_for_type(
        x509.UniformResourceIdentifier) == [f"spiffe://{ca.trust_domain}"]
    bc = _ext(cert, x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length is None
    ku = _ext(cert, x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign
    assert ku.value.digital_signature
    kid = _spki_sha256(cert.public_key())
    assert _ext(cert, x509.SubjectKeyIdentifier).value.digest == kid
    assert _ext(cert, x509.AuthorityKeyIdentifier).value.key_identifier == kid
    assert ca.root.SigningKeyID == hex_string(kid)
    assert cert.not_valid_before_utc == NOW
    assert cert.not_valid_after_utc == NOW + datetime.timedelta(hours=87600)
    assert hex_string(cert.fingerprint(hashes.SHA1())) == ca.root.ID
    assert (ca.root.Name, ca.root.Active, ca.root.ExternalTrustDomain) == (
        "Consul CA Primary Cert", True, ca.cluster_id)
    assert ca.root.SerialNumber == cert.serial_number == 1
    assert ca.root.IntermediateCerts is None  # JSON null, as Consul's nil slice
    assert ca.provider.state.PrivateKey and ca.provider.state.RootCert == ca.root.RootCert


def test_leaf_from_agent_csr(tmp_path):
    ca = CA(LeafCertTTL="24h")
    issued, key_pem = ca.leaf("web", dns_san=("web.example.com:8443", "web.example.com", "alt"))
    cert = load_cert(issued.CertPEM)
    uri = f"spiffe://{ca.trust_domain}/ns/default/dc/dc1/svc/web"
    assert (issued.Service, issued.ServiceURI) == ("web", uri)
    assert issued.SerialNumber == "02" and cert.serial_number == 2
    assert cert.subject == x509.Name([])
    san = _ext(cert, x509.SubjectAlternativeName)
    assert san.critical
    assert san.value.get_values_for_type(x509.UniformResourceIdentifier) == [uri]
    assert san.value.get_values_for_type(x509.DNSName) == ["web.example.com", "alt"]
    ku = _ext(cert, x509.KeyUsage)
    assert ku.critical
    assert (ku.value.digital_signature, ku.value.key_encipherment, ku.value.data_encipherment,
            ku.value.key_agreement, ku.value.key_cert_sign) == (True, True, True, True, False)
    assert list(_ext(cert, x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]
    assert not _ext(cert, x509.BasicConstraints).value.ca
    assert cert.not_valid_before_utc == NOW - datetime.timedelta(minutes=1)
    assert cert.not_valid_after_utc == NOW - datetime.timedelta(minutes=1) + datetime.timedelta(
        hours=24)
    assert (issued.ValidAfter, issued.ValidBefore) == (cert.not_valid_before_utc,
                                                       cert.not_valid_after_utc)
    root_cert = load_cert(ca.root.RootCert)
    assert _ext(cert, x509.AuthorityKeyIdentifier).value.key_identifier == \
        _ext(root_cert, x509.SubjectKeyIdentifier).value.digest
    assert _ext(cert, x509.SubjectKeyIdentifier).value.digest == _spki_sha256(cert.public_key())
    # the agent's key is the certificate's key; the server never had it
    agent_key = load_private_key(key_pem)
    assert _spki_sha256(agent_key.public_key()) == _spki_sha256(cert.public_key())
    assert "PRIVATE KEY" not in issued.CertPEM and issued.PrivateKeyPEM is UNSET
    cert.verify_directly_issued_by(root_cert)
    for purpose in ("", "sslclient", "sslserver"):
        ok, out = openssl_verify(tmp_path / purpose, issued.CertPEM, [ca.root.RootCert],
                                 purpose=purpose)
        assert ok, out
    other = CA()
    ok, out = openssl_verify(tmp_path / "other", issued.CertPEM, [other.root.RootCert])
    assert not ok


def test_leaf_verifies_as_tls_client_with_cryptography():
    from cryptography.x509 import verification

    ca = CA()
    issued, _ = ca.leaf("api")
    store = verification.Store([load_cert(ca.root.RootCert)])
    verifier = (verification.PolicyBuilder().store(store)
                .time(NOW + datetime.timedelta(hours=1)).build_client_verifier())
    verified = verifier.verify(load_cert(issued.CertPEM), [])
    assert verified.chain[-1] == load_cert(ca.root.RootCert)


@pytest.mark.parametrize("key_type", ["rsa", "ec"])
def test_rsa_and_ec_roots_sign_ec_leaves(tmp_path, key_type):
    ca = CA(PrivateKeyType=key_type, PrivateKeyBits=2048 if key_type == "rsa" else 256)
    issued, _ = ca.leaf("db")
    cert = load_cert(issued.CertPEM)
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.signature_hash_algorithm.name == "sha256"
    ok, out = openssl_verify(tmp_path, issued.CertPEM, [ca.root.RootCert])
    assert ok, out


def test_agent_mesh_gateway_and_server_leaves():
    ca = CA()
    agent_csr, _ = make_leaf_csr(LeafRequest(datacenter="dc1", agent="node-1"), ca.trust_domain)
    issued = ca.sign_csr(agent_csr)
    cert = load_cert(issued.CertPEM)
    san = _ext(cert, x509.SubjectAlternativeName).value
    assert (issued.Agent, issued.AgentURI) == (
        "node-1", f"spiffe://{ca.trust_domain}/agent/client/dc/dc1/id/node-1")
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1"),
                                                      ipaddress.ip_address("::1")]
    gw_csr, _ = make_leaf_csr(LeafRequest(datacenter="dc1", kind="mesh-gateway"),
                              ca.trust_domain)
    issued = ca.sign_csr(gw_csr)
    assert (issued.Kind, issued.KindURI) == ("mesh-gateway",
                                            f"spiffe://{ca.trust_domain}/gateway/mesh/dc/dc1")
    srv_csr, _ = make_leaf_csr(LeafRequest(datacenter="dc1", server=True), ca.trust_domain)
    issued = ca.sign_csr(srv_csr)
    assert issued.ServerURI == f"spiffe://{ca.trust_domain}/agent/server/dc/dc1"
    assert _ext(load_cert(issued.CertPEM), x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName) == [f"server.dc1.peering.{ca.trust_domain}"]


def test_agent_csr_with_placeholder_trust_domain_gets_ours():
    ca = CA()
    csr_pem, _ = make_csr(SpiffeIDAgent(host="unknown.consul", datacenter="dc1", agent="n1"))
    issued = ca.sign_csr(csr_pem)
    assert issued.AgentURI == f"spiffe://{ca.trust_domain}/agent/client/dc/dc1/id/n1"


def _csr_with(names, key=None, subject=x509.Name([])):
    key = key or ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=True)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def _uri(value):
    return x509.UniformResourceIdentifier(value)


@pytest.mark.parametrize(("make", "message"), [
    (lambda ca: make_csr(SpiffeIDService(host="evil.consul", datacenter="dc1",
                                         service="web"))[0],
     "SPIFFE ID in CSR from a different trust domain: evil.consul, we are {td}"),
    (lambda ca: make_csr(SpiffeIDService(host=ca.trust_domain, datacenter="dc9",
                                         service="web"))[0],
     "SPIFFE ID in CSR from a different datacenter: dc9, we are dc1"),
    (lambda ca: make_csr(SpiffeIDSigning(cluster_id=ca.cluster_id))[0],
     "SPIFFE ID in CSR must be a service, mesh-gateway, or agent ID"),
    (lambda ca: _csr_with([]), "CSR SAN contains an invalid number of URIs: 0"),
    (lambda ca: _csr_with([_uri(f"spiffe://{ca.trust_domain}/ns/default/dc/dc1/svc/a"),
                           _uri(f"spiffe://{ca.trust_domain}/ns/default/dc/dc1/svc/b")]),
     "CSR SAN contains an invalid number of URIs: 2"),
    (lambda ca: _csr_with([_uri(f"spiffe://{ca.trust_domain}/ns/default/dc/dc1/svc/a"),
                           x509.RFC822Name("a@example.com")]),
     "CSR SAN does not allow specifying email addresses"),
    (lambda ca: _csr_with([_uri(f"spiffe://{ca.trust_domain}/svc/a")]),
     "SPIFFE ID is not in the expected format: spiffe://{td}/svc/a"),
    (lambda ca: "not a pem", "no PEM-encoded data found"),
    (lambda ca: ca.root.RootCert, "first PEM-block should be CERTIFICATE REQUEST type"),
    (lambda ca: _tampered(make_csr(SpiffeIDService(host=ca.trust_domain, datacenter="dc1",
                                                   service="web"))[0]),
     "CSR signature is not valid"),
])
def test_bad_csrs_are_refused_with_consuls_messages(make, message):
    ca = CA()
    with pytest.raises(InvalidCSR) as exc:
        ca.sign_csr(make(ca))
    assert str(exc.value) == message.format(td=ca.trust_domain)
    assert exc.value.status == 400


def _tampered(csr_pem: str) -> str:
    """The same CSR with one signature byte flipped."""
    import base64

    der = bytearray(x509.load_pem_x509_csr(csr_pem.encode()).public_bytes(
        serialization.Encoding.DER))
    der[-1] ^= 0x01
    body = base64.encodebytes(bytes(der)).decode()
    return f"-----BEGIN CERTIFICATE REQUEST-----\n{body}-----END CERTIFICATE REQUEST-----\n"


def test_server_identity_checks_datacenter():
    ca = CA()
    csr, identity = parse_leaf_csr(make_csr(SpiffeIDServer(host=ca.trust_domain,
                                                           datacenter="dc2"))[0])
    with pytest.raises(InvalidCSR, match="different datacenter: dc2, we are dc1"):
        check_leaf_identity(identity, cluster_id=ca.cluster_id, datacenter="dc1")


def test_expired_root_and_uninitialised_provider_refuse_to_sign():
    ca = CA(LeafCertTTL="1h", IntermediateCertTTL="3h", RootCertTTL="3h")
    csr, identity = parse_leaf_csr(make_csr(SpiffeIDService(
        host=ca.trust_domain, datacenter="dc1", service="web"))[0])
    later = NOW + datetime.timedelta(hours=4)
    with pytest.raises(ProviderError) as exc:
        sign_leaf(ca.provider, csr, identity, ca.root, serial=9, now=later)
    assert str(exc.value) == ("root expired: certificate expired, expiration date: "
                              "2026-06-01 15:00:00 +0000 UTC")
    empty = ConsulCAProvider(parse_ca_config({}), ca.cluster_id)
    with pytest.raises(ProviderError, match="^provider not initialized$"):
        empty.sign(csr, identity.uri(), 1, NOW)


def test_configured_private_key_and_root_cert_are_used():
    first = CA()
    cfg = parse_ca_config({"PrivateKey": first.provider.state.PrivateKey,
                           "RootCert": first.root.RootCert})
    provider = ConsulCAProvider(cfg, first.cluster_id)
    pem, state = provider.generate_ca_chain(5, NOW)
    assert pem == first.root.RootCert and state.PrivateKey == first.provider.state.PrivateKey
    # generating again with a root in the state changes nothing
    provider.state = state
    assert provider.generate_ca_chain(6, NOW) == (pem, state)


def test_openssl_made_csr_is_signed_without_its_subject(tmp_path):
    import subprocess

    ca = CA()
    uri = f"spiffe://{ca.trust_domain}/ns/default/dc/dc1/svc/legacy"
    key, csr = tmp_path / "k.pem", tmp_path / "csr.pem"
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out", str(csr),
                    "-subj", "/CN=legacy", "-addext", f"subjectAltName=URI:{uri},DNS:legacy.local"],
                   check=True, capture_output=True, timeout=30)
    issued = ca.sign_csr(csr.read_text())
    cert = load_cert(issued.CertPEM)
    assert cert.subject == x509.Name([]) and issued.ServiceURI == uri
    assert _ext(cert, x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName) == [
        "legacy.local"]
    ok, out = openssl_verify(tmp_path / "v", issued.CertPEM, [ca.root.RootCert])
    assert ok, out


@pytest.mark.parametrize("pem", [
    "",
    "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
    "-----BEGIN CERTIFICATE REQUEST-----\n" + "QUJD" * 40 + "\n-----END CERTIFICATE REQUEST-----\n",
    "-----BEGIN CERTIFICATE REQUEST-----",
    "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
])
def test_garbage_csrs_are_invalid_csr_errors(pem):
    with pytest.raises(InvalidCSR):
        CA().sign_csr(pem)


def test_ed25519_and_rsa_csr_keys_are_signed(tmp_path):
    from cryptography.hazmat.primitives.asymmetric import ed25519

    ca = CA()
    uri = f"spiffe://{ca.trust_domain}/ns/default/dc/dc1/svc/web"
    for name, key in (("ed", ed25519.Ed25519PrivateKey.generate()),
                      ("rsa", rsa.generate_private_key(public_exponent=65537, key_size=2048))):
        builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]), critical=True)
        algorithm = None if name == "ed" else hashes.SHA256()
        pem = builder.sign(key, algorithm).public_bytes(serialization.Encoding.PEM).decode()
        issued = ca.sign_csr(pem)
        ok, out = openssl_verify(tmp_path / name, issued.CertPEM, [ca.root.RootCert])
        assert ok, out
