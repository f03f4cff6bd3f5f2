"""What a Connect CA provider does (Consul's ca.Provider), and its errors.

A provider is pure: it never writes to raft itself. Serial numbers and the
current time come in as arguments (the caller takes serials from the
replicated counter); a call that changes the provider's persistent state
returns the new :class:`CAConsulProviderState` for the caller to commit and
then assign to ``provider.state``.
"""

from __future__ import annotations

import datetime
from typing import Protocol

from cryptography import x509

from proconsul.structs.connect import CAConsulProviderState
from proconsul.structs.errors import BadRequest, ConsulError, TooManyRequests

__all__ = [
    "ERR_NOT_INITIALIZED",
    "ERR_RATE_LIMITED",
    "InvalidCSR",
    "Provider",
    "ProviderError",
    "RateLimited",
]

ERR_NOT_INITIALIZED = "provider not initialized"
ERR_RATE_LIMITED = "Rate limit reached, try again later"


class ProviderError(ConsulError):
    """The CA cannot do what was asked (not initialised, wrong role, bad state)."""


class InvalidCSR(BadRequest):
    """The CSR a client sent cannot be signed; the message says why."""


class RateLimited(TooManyRequests):
    """CSR signing is over csr_max_per_second / csr_max_concurrent."""

    def __init__(self, message: str = ERR_RATE_LIMITED) -> None:
        super().__init__(message)


class Provider(Protocol):
    """A CA that roots trust and signs leaves and intermediates."""

    state: CAConsulProviderState

    def generate_ca_chain(self, serial: int,
                          now: datetime.datetime) -> tuple[str, CAConsulProviderState]:
        """Primary only: the root PEM, creating key and root if the state has none."""

    def generate_intermediate_csr(self) -> tuple[str, CAConsulProviderState]:
        """Secondary only: a CSR (PEM) for the primary to sign, with a fresh key."""

    def set_intermediate(self, intermediate_pem: str, root_pem: str) -> CAConsulProviderState:
        """Secondary only: install the intermediate the primary signed."""

    def active_leaf_signing_cert(self) -> str:
        """PEM of the certificate leaves are signed with (root or intermediate)."""

    def sign(self, csr: x509.CertificateSigningRequest, uri: str, serial: int,
             now: datetime.datetime) -> str:
        """A leaf certificate (PEM) for ``csr`` carrying ``uri`` as its identity."""

    def sign_intermediate(self, csr: x509.CertificateSigningRequest, serial: int,
                          now: datetime.datetime) -> str:
        """An intermediate CA certificate (PEM, path length 0) for another datacenter."""

    def cross_sign_ca(self, cert: x509.Certificate, serial: int,
                      now: datetime.datetime) -> str:
        """``cert`` (a new root) re-issued by this provider's root."""

    def supports_cross_signing(self) -> bool:
        """Whether cross_sign_ca can be used for rotation."""
