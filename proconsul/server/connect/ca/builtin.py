"""The built-in CA provider (``ca_provider = "consul"``) over ``cryptography``.

Certificates as Consul's built-in provider makes them:

- root: self-signed, CN ``pri-<uid>.consul.ca.<cluster-id[:8]>.consul``, URI SAN
  ``spiffe://<cluster-id>.consul``, CA without path length limit, key usage
  certSign|cRLSign|digitalSignature, SKID = AKID = SHA-256 key ID, valid from
  now for RootCertTTL;
- leaf: empty subject, critical SAN (the CSR's URI, DNS names and IPs), key usage
  digitalSignature|keyEncipherment|dataEncipherment|keyAgreement, extKeyUsage
  clientAuth+serverAuth, valid from one minute ago for LeafCertTTL;
- intermediate: the CSR's subject and SANs, CA with path length 0, from one
  minute ago for IntermediateCertTTL;
- cross-signed root: the new root re-issued by the old root, from one minute ago
  for 7 days.
"""

from __future__ import annotations

import datetime
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from proconsul.lib.connect_pki import (
    SIGNATURE_HASH,
    PKIError,
    PrivateKey,
    cert_pem,
    generate_private_key,
    hex_string,
    key_id,
    load_cert,
    load_private_key,
    public_key_der,
    utc_seconds,
)
from proconsul.server.connect.ca.provider import ERR_NOT_INITIALIZED, ProviderError
from proconsul.structs.connect import CAConsulProviderState, CommonCAConfig
from proconsul.structs.connect_ids import (
    InvalidCertURI,
    ca_common_name,
    compact_uid,
    parse_cert_uri,
    signing_id_for_cluster,
)

__all__ = ["CERT_TIME_DRIFT", "CROSS_SIGN_VALIDITY", "ConsulCAProvider", "provider_state_id"]

PROVIDER_NAME = "consul"
CERT_TIME_DRIFT = datetime.timedelta(minutes=1)  # NotBefore backdating for clock skew
CROSS_SIGN_VALIDITY = datetime.timedelta(days=7)

_LEAF_KEY_USAGE = x509.KeyUsage(
    digital_signature=True, content_commitment=False, key_encipherment=True,
    data_encipherment=True, key_agreement=True, key_cert_sign=False, crl_sign=False,
    encipher_only=False, decipher_only=False)
_CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=True, content_commitment=False, key_encipherment=False,
    data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
    encipher_only=False, decipher_only=False)
_LEAF_EXT_KEY_USAGE = x509.ExtendedKeyUsage(
    [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH])
_EMPTY_NAME = x509.Name([])

_Signer = tuple[PrivateKey, x509.Name, x509.AuthorityKeyIdentifier]


def provider_state_id(config: CommonCAConfig, is_primary: bool) -> str:
    """The ID under which a provider's state is stored: a hash of what defines its key."""
    raw = (f"{config.private_key},{config.root_cert},{config.private_key_type},"
           f"{config.private_key_bits},{'true' if is_primary else 'false'}")
    return hex_string(hashlib.sha256(raw.encode()).digest())


class ConsulCAProvider:
    """The built-in CA of one datacenter: a root (primary) or an intermediate (secondary).

    ``state`` holds the private key and certificates; it comes from and goes
    back to the replicated state store."""

    def __init__(self, config: CommonCAConfig, cluster_id: str, is_primary: bool = True,
                 state: CAConsulProviderState | None = None) -> None:
        self.config = config
        self.cluster_id = cluster_id
        self.is_primary = is_primary
        self.signing_id = signing_id_for_cluster(cluster_id)
        self.id = provider_state_id(config, is_primary)
        self.state = state if state is not None else CAConsulProviderState(ID=self.id)
        self._signer_cache: tuple[str, str, _Signer] | None = None

    # -- chain setup -------------------------------------------------------------

    def generate_ca_chain(self, serial: int,
                          now: datetime.datetime) -> tuple[str, CAConsulProviderState]:
        """The root PEM; makes the key and the root if the state has none yet."""
        if not self.is_primary:
            raise ProviderError("provider is not the root certificate authority")
        if self.state.RootCert:
            return self.state.RootCert, self.state
        if self.config.private_key:
            key_pem = self.config.private_key
            key = _load_key(key_pem)
        else:
            key, key_pem = _generate_key(self.config)
        root = self.config.root_cert or cert_pem(self._make_root(key, serial, now))
        new_state = CAConsulProviderState(ID=self.id, PrivateKey=key_pem, RootCert=root,
                                          IntermediateCert=self.state.IntermediateCert)
        return root, new_state

    def generate_intermediate_csr(self) -> tuple[str, CAConsulProviderState]:
        """A CSR (PEM) for the primary to sign, with a new key kept in the returned state."""
        if self.is_primary:
            raise ProviderError("provider is the root certificate authority, "
                                "cannot generate an intermediate CSR")
        key, key_pem = _generate_key(self.config)
        cn = ca_common_name(PROVIDER_NAME, compact_uid(), self.cluster_id, primary=False)
        csr = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
               .add_extension(x509.SubjectAlternativeName(
                   [x509.UniformResourceIdentifier(self.signing_id.uri())]), critical=False)
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .sign(key, SIGNATURE_HASH))
        new_state = CAConsulProviderState(ID=self.id, PrivateKey=key_pem,
                                          RootCert=self.state.RootCert,
                                          IntermediateCert=self.state.IntermediateCert)
        return csr.public_bytes(serialization.Encoding.PEM).decode(), new_state

    def set_intermediate(self, intermediate_pem: str, root_pem: str) -> CAConsulProviderState:
        """Install a signed intermediate after checking it against the root and our key."""
        if self.is_primary:
            raise ProviderError(
                "cannot set an intermediate using another root in the primary datacenter")
        try:
            intermediate = load_cert(intermediate_pem)
        except PKIError as exc:
            raise ProviderError(f"error parsing intermediate PEM: {exc}") from None
        constraints = _extension(intermediate, x509.BasicConstraints)
        if constraints is None or not constraints.ca:
            raise ProviderError("intermediate is not a CA certificate")
        uris = _uris(intermediate)
        if len(uris) != 1:
            raise ProviderError(
                f"incoming intermediate cert has unexpected number of URIs: {len(uris)}")
        if uris[0] != self.signing_id.uri():
            raise ProviderError(f'incoming cert URI "{uris[0]}" does not match current URI: '
                                f'"{self.signing_id.uri()}"')
        try:
            root = load_cert(root_pem)
            intermediate.verify_directly_issued_by(root)
        except (PKIError, ValueError, TypeError) as exc:
            raise ProviderError(f"could not verify intermediate cert against root: {exc}") from None
        if not self.state.PrivateKey:
            raise ProviderError(ERR_NOT_INITIALIZED)
        key = _load_key(self.state.PrivateKey)
        if public_key_der(intermediate.public_key()) != public_key_der(key.public_key()):
            raise ProviderError("intermediate cert is for a different private key")
        return CAConsulProviderState(ID=self.id, PrivateKey=self.state.PrivateKey,
                                     RootCert=root_pem, IntermediateCert=intermediate_pem)

    def active_leaf_signing_cert(self) -> str:
        """The root in the primary, the intermediate in a secondary."""
        return self.state.RootCert if self.is_primary else self.state.IntermediateCert

    def supports_cross_signing(self) -> bool:
        return not self.config.disable_cross_signing

    # -- signing -----------------------------------------------------------------

    def sign(self, csr: x509.CertificateSigningRequest, uri: str, serial: int,
             now: datetime.datetime) -> str:
        """A leaf for the CSR's key, identity ``uri``, DNS and IP SANs from the CSR."""
        key, issuer, aki = self._signer()
        names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(uri)]
        names += _csr_names(csr, x509.DNSName) + _csr_names(csr, x509.IPAddress)
        start = utc_seconds(now) - CERT_TIME_DRIFT
        public_key = csr.public_key()
        builder = (x509.CertificateBuilder()
                   .subject_name(_EMPTY_NAME)
                   .issuer_name(issuer)
                   .public_key(public_key)
                   .serial_number(serial)
                   .not_valid_before(start)
                   .not_valid_after(start + datetime.timedelta(
                       microseconds=self.config.leaf_cert_ttl // 1000))
                   .add_extension(_LEAF_KEY_USAGE, critical=True)
                   .add_extension(_LEAF_EXT_KEY_USAGE, critical=False)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                                  critical=True)
                   .add_extension(x509.SubjectKeyIdentifier(key_id(public_key)), critical=False)
                   .add_extension(aki, critical=False)
                   .add_extension(x509.SubjectAlternativeName(names), critical=True))
        return cert_pem(builder.sign(key, SIGNATURE_HASH))

    def sign_intermediate(self, csr: x509.CertificateSigningRequest, serial: int,
                          now: datetime.datetime) -> str:
        """An intermediate for another datacenter (primary's root key, path length 0)."""
        uris = _csr_uris(csr)
        if len(uris) > 1:
            raise ProviderError(f"incoming CSR has unexpected number of URIs: {len(uris)}")
        if uris:
            try:
                identity = parse_cert_uri(uris[0])
            except InvalidCertURI as exc:
                raise ProviderError(str(exc)) from None
            if not self.signing_id.can_sign(identity):
                raise ProviderError(f'incoming CSR domain "{identity.uri()}" is not valid for '
                                    f'our domain "{self.signing_id.uri()}"')
        if not self.state.PrivateKey or not self.state.RootCert:
            raise ProviderError(ERR_NOT_INITIALIZED)
        key = _load_key(self.state.PrivateKey)
        root = load_cert(self.state.RootCert)
        start = utc_seconds(now) - CERT_TIME_DRIFT
        public_key = csr.public_key()
        builder = (x509.CertificateBuilder()
                   .subject_name(csr.subject)
                   .issuer_name(root.subject)
                   .public_key(public_key)
                   .serial_number(serial)
                   .not_valid_before(start)
                   .not_valid_after(start + datetime.timedelta(
                       microseconds=self.config.intermediate_cert_ttl // 1000))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   .add_extension(_CA_KEY_USAGE, critical=True)
                   .add_extension(x509.SubjectKeyIdentifier(key_id(public_key)), critical=False)
                   .add_extension(_authority_key_id(root, key), critical=False))
        names = [x509.UniformResourceIdentifier(u) for u in uris]
        names += (_csr_names(csr, x509.DNSName) + _csr_names(csr, x509.RFC822Name)
                  + _csr_names(csr, x509.IPAddress))
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names),
                                            critical=not csr.subject)
        return cert_pem(builder.sign(key, SIGNATURE_HASH))

    def cross_sign_ca(self, cert: x509.Certificate, serial: int,
                      now: datetime.datetime) -> str:
        """``cert`` re-issued by our root: its subject, key and extensions, our issuer."""
        if self.config.disable_cross_signing:
            raise ProviderError("cross-signing disabled")
        if not self.state.PrivateKey or not self.state.RootCert:
            raise ProviderError(ERR_NOT_INITIALIZED)
        key = _load_key(self.state.PrivateKey)
        root = load_cert(self.state.RootCert)
        start = utc_seconds(now) - CERT_TIME_DRIFT
        builder = (x509.CertificateBuilder()
                   .subject_name(cert.subject)
                   .issuer_name(root.subject)
                   .public_key(cert.public_key())
                   .serial_number(serial)
                   .not_valid_before(start)
                   .not_valid_after(start + CROSS_SIGN_VALIDITY))
        for ext in cert.extensions:
            if ext.oid != ExtensionOID.AUTHORITY_KEY_IDENTIFIER:
                builder = builder.add_extension(ext.value, critical=ext.critical)
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier(key_id(key.public_key()), None, None), critical=False)
        return cert_pem(builder.sign(key, SIGNATURE_HASH))

    # -- internals ---------------------------------------------------------------

    def _make_root(self, key: PrivateKey, serial: int,
                   now: datetime.datetime) -> x509.Certificate:
        cn = ca_common_name(PROVIDER_NAME, compact_uid(), self.cluster_id, primary=True)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        kid = key_id(key.public_key())
        start = utc_seconds(now)
        return (x509.CertificateBuilder()
                .subject_name(name)
                .issuer_name(name)
                .public_key(key.public_key())
                .serial_number(serial)
                .not_valid_before(start)
                .not_valid_after(start + datetime.timedelta(
                    microseconds=self.config.root_cert_ttl // 1000))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(_CA_KEY_USAGE, critical=True)
                .add_extension(x509.SubjectKeyIdentifier(kid), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier(kid, None, None), critical=False)
                .add_extension(x509.SubjectAlternativeName(
                    [x509.UniformResourceIdentifier(self.signing_id.uri())]), critical=False)
                .sign(key, SIGNATURE_HASH))

    def _signer(self) -> _Signer:
        """The signing key, issuer name and AKID, worked out once per state."""
        key_pem, signing_pem = self.state.PrivateKey, self.active_leaf_signing_cert()
        cached = self._signer_cache
        if cached is not None and cached[0] == key_pem and cached[1] == signing_pem:
            return cached[2]
        if not key_pem or not signing_pem:
            raise ProviderError(ERR_NOT_INITIALIZED)
        key = _load_key(key_pem)
        try:
            ca_cert = load_cert(signing_pem)
        except PKIError as exc:
            raise ProviderError(f"error parsing CA cert: {exc}") from None
        signer = (key, ca_cert.subject, _authority_key_id(ca_cert, key))
        self._signer_cache = (key_pem, signing_pem, signer)
        return signer

def _generate_key(config: CommonCAConfig) -> tuple[PrivateKey, str]:
    try:
        return generate_private_key(config.private_key_type, config.private_key_bits)
    except PKIError as exc:
        raise ProviderError(str(exc)) from None


def _load_key(pem: str) -> PrivateKey:
    try:
        return load_private_key(pem)
    except PKIError as exc:
        raise ProviderError(f"error parsing private key: {exc}") from None


def _authority_key_id(issuer: x509.Certificate, key: PrivateKey) -> x509.AuthorityKeyIdentifier:
    """The issuer's own SKID when it has one (as Go's x509 does), else our key ID."""
    ski = _extension(issuer, x509.SubjectKeyIdentifier)
    kid = ski.digest if ski is not None else key_id(key.public_key())
    return x509.AuthorityKeyIdentifier(kid, None, None)


def _extension(cert: x509.Certificate, ext_type):
    try:
        return cert.extensions.get_extension_for_class(ext_type).value
    except x509.ExtensionNotFound:
        return None


def _uris(cert: x509.Certificate) -> list[str]:
    san = _extension(cert, x509.SubjectAlternativeName)
    return [] if san is None else san.get_values_for_type(x509.UniformResourceIdentifier)


def _csr_san(csr: x509.CertificateSigningRequest) -> x509.SubjectAlternativeName | None:
    try:
        return csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None


def _csr_uris(csr: x509.CertificateSigningRequest) -> list[str]:
    san = _csr_san(csr)
    return [] if san is None else san.get_values_for_type(x509.UniformResourceIdentifier)


def _csr_names(csr: x509.CertificateSigningRequest, kind) -> list[x509.GeneralName]:
    san = _csr_san(csr)
    return [] if san is None else [name for name in san if isinstance(name, kind)]

