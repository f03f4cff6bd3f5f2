"""PEM and X.509 helpers shared by the Connect CA (servers) and the leaf
certificate code (agents): key generation by Consul's ``private_key_type`` /
``private_key_bits``, PEM parsing with Consul's error texts, key IDs, serial
and fingerprint encodings. Pure: no I/O beyond the OS random source.
"""

from __future__ import annotations

import datetime
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

__all__ = [
    "DEFAULT_PRIVATE_KEY_BITS",
    "DEFAULT_PRIVATE_KEY_TYPE",
    "PKIError",
    "PrivateKey",
    "cert_fingerprint",
    "cert_pem",
    "encode_serial",
    "generate_private_key",
    "hex_string",
    "key_id",
    "key_info",
    "load_cert",
    "load_csr",
    "load_private_key",
    "private_key_pem",
    "public_key_der",
    "utc_seconds",
]

DEFAULT_PRIVATE_KEY_TYPE = "ec"
DEFAULT_PRIVATE_KEY_BITS = 256
SIGNATURE_HASH = hashes.SHA256()  # Consul signs with SHA-256 for every key type and curve

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

_CURVES = {224: ec.SECP224R1, 256: ec.SECP256R1, 384: ec.SECP384R1, 521: ec.SECP521R1}


class PKIError(ValueError):
    """A key, certificate or CSR cannot be generated or read."""


def generate_private_key(key_type: str = DEFAULT_PRIVATE_KEY_TYPE,
                         bits: int = DEFAULT_PRIVATE_KEY_BITS) -> tuple[PrivateKey, str]:
    """A new private key and its PEM ("EC PRIVATE KEY" or "RSA PRIVATE KEY", as Consul writes)."""
    kind = key_type.lower()
    if kind == "rsa":
        try:
            key: PrivateKey = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        except ValueError as exc:
            raise PKIError(f"error generating RSA private key: {exc}") from None
    elif kind == "ec":
        curve = _CURVES.get(bits)
        if curve is None:
            raise PKIError(f"error generating ECDSA private key: unknown curve length {bits}")
        key = ec.generate_private_key(curve())
    else:
        raise PKIError(f"unknown private key type requested: {key_type}")
    return key, private_key_pem(key)


def private_key_pem(key: PrivateKey) -> str:
    """PEM of a private key in the traditional (SEC1 / PKCS#1) form."""
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption()).decode()


def load_private_key(pem: str) -> PrivateKey:
    """The first private key in ``pem`` (EC, RSA or PKCS#8 blocks)."""
    block_type = _first_block_type(pem)
    if block_type not in ("EC PRIVATE KEY", "RSA PRIVATE KEY", "PRIVATE KEY"):
        raise PKIError(f"unknown PEM block type for signing key: {block_type}")
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise PKIError(f"error parsing private key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise PKIError("private key is not a valid format")
    return key


def load_cert(pem: str) -> x509.Certificate:
    """The first certificate of a PEM value."""
    if _first_block_type(pem) != "CERTIFICATE":
        raise PKIError("first PEM-block should be CERTIFICATE type")
    try:
        return x509.load_pem_x509_certificate(pem.encode())
    except ValueError as exc:
        raise PKIError(f"error parsing certificate: {exc}") from None


def load_csr(pem: str) -> x509.CertificateSigningRequest:
    """The first certificate signing request of a PEM value."""
    if _first_block_type(pem) != "CERTIFICATE REQUEST":
        raise PKIError("first PEM-block should be CERTIFICATE REQUEST type")
    try:
        return x509.load_pem_x509_csr(pem.encode())
    except ValueError as exc:
        raise PKIError(f"error parsing CSR: {exc}") from None


def cert_pem(cert: x509.Certificate) -> str:
    """PEM text of a certificate."""
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def public_key_der(public_key) -> bytes:
    """The DER SubjectPublicKeyInfo of a public key."""
    return public_key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def key_id(public_key) -> bytes:
    """Consul's key ID: SHA-256 of the DER SubjectPublicKeyInfo (used for SKID/AKID)."""
    return hashlib.sha256(public_key_der(public_key)).digest()


def key_info(public_key) -> tuple[str, int]:
    """("ec", curve bits) or ("rsa", modulus bits) of a public key."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return "ec", public_key.curve.key_size
    if isinstance(public_key, rsa.RSAPublicKey):
        return "rsa", public_key.key_size
    raise PKIError("unsupported key type")


def hex_string(data: bytes) -> str:
    """Colon-separated lower-case hex ("0a:1b:..."), Consul's form for serials and key IDs."""
    return ":".join(f"{b:02x}" for b in data)


def encode_serial(serial: int) -> str:
    """A serial number as colon hex of its minimal big-endian bytes."""
    return hex_string(serial.to_bytes((serial.bit_length() + 7) // 8, "big"))


def cert_fingerprint(cert: x509.Certificate) -> str:
    """SHA-1 fingerprint of the DER certificate in colon hex (a CARoot's ID)."""
    return hex_string(cert.fingerprint(hashes.SHA1()))


def utc_seconds(when: datetime.datetime) -> datetime.datetime:
    """``when`` in UTC, truncated to whole seconds (X.509 time precision)."""
    return when.astimezone(datetime.UTC).replace(microsecond=0)


def _first_block_type(pem: str) -> str:
    start = pem.find("-----BEGIN ")
    if start < 0:
        raise PKIError("no PEM-encoded data found")
    end = pem.find("-----", start + 11)
    if end < 0:
        raise PKIError("no PEM-encoded data found")
    return pem[start + 11:end]
