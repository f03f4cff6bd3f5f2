"""Connect CA types (Consul's agent/structs/connect_ca.go) and the CA config map.

Times are UTC datetimes (JSON ``"2026-01-02T03:04:05Z"``; Go's zero time is
:data:`ZERO_TIME`). Fields only servers may see — a root's ``SigningKey``,
``SigningCert`` and ``RotatedOutAt``, the config's ``ClusterID`` — are UNSET
in what :meth:`CARoot.public` and :meth:`CAConfiguration.public` return; the
built-in provider's private key lives in :class:`CAConsulProviderState` only.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from msgspec import structs

from proconsul.lib.duration import HOUR, DurationError, format_duration, parse_duration
from proconsul.structs.base import UNSET, Int, Record, Uint64, UnsetType
from proconsul.structs.query import QueryMeta

__all__ = [
    "CA_OP_DELETE_PROVIDER_STATE",
    "CA_OP_INCREMENT_PROVIDER_SERIAL",
    "CA_OP_SET_CONFIG",
    "CA_OP_SET_PROVIDER_STATE",
    "CA_OP_SET_ROOTS",
    "CA_OP_SET_ROOTS_AND_CONFIG",
    "CAConfigError",
    "CAConfiguration",
    "CAConsulProviderState",
    "CARequest",
    "CARoot",
    "CARootList",
    "CASignRequest",
    "CommonCAConfig",
    "IndexedCARoots",
    "IssuedCert",
    "ZERO_TIME",
    "parse_ca_config",
]

ZERO_TIME = datetime.datetime(1, 1, 1, tzinfo=datetime.UTC)

CONSUL_CA_PROVIDER = "consul"
VAULT_CA_PROVIDER = "vault"
AWS_CA_PROVIDER = "aws-pca"

CA_OP_SET_ROOTS = "set-roots"
CA_OP_SET_CONFIG = "set-config"
CA_OP_SET_PROVIDER_STATE = "set-provider-state"
CA_OP_DELETE_PROVIDER_STATE = "delete-provider-state"
CA_OP_SET_ROOTS_AND_CONFIG = "set-roots-config"
CA_OP_INCREMENT_PROVIDER_SERIAL = "increment-provider-serial"

DEFAULT_LEAF_CERT_TTL_NS = 72 * HOUR
DEFAULT_INTERMEDIATE_CERT_TTL_NS = 8760 * HOUR
DEFAULT_ROOT_CERT_TTL_NS = 87600 * HOUR
DEFAULT_CSR_MAX_PER_SECOND = 50.0
MIN_LEAF_CERT_TTL_NS = HOUR
MAX_LEAF_CERT_TTL_NS = 8760 * HOUR
INTERMEDIATE_CERT_RENEW_INTERVAL_NS = HOUR


class CARoot(Record):
    """A trusted CA root; exactly one root of a cluster is Active."""

    ID: str = ""
    Name: str = ""
    SerialNumber: Uint64 = 0
    SigningKeyID: str = ""
    ExternalTrustDomain: str = ""
    NotBefore: datetime.datetime = ZERO_TIME
    NotAfter: datetime.datetime = ZERO_TIME
    RootCert: str = ""
    IntermediateCerts: list[str] | None = None
    SigningCert: str | UnsetType = UNSET
    SigningKey: str | UnsetType = UNSET
    Active: bool = False
    RotatedOutAt: datetime.datetime | UnsetType = UNSET
    PrivateKeyType: str = ""
    PrivateKeyBits: Int = 0
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0

    def public(self) -> CARoot:
        """This root as clients may see it: no signing key or cert, no RotatedOutAt."""
        return structs.replace(self, SigningCert=UNSET, SigningKey=UNSET, RotatedOutAt=UNSET)


class CARootList(Record):
    """The body of /v1/connect/ca/roots: the roots a cluster trusts."""

    ActiveRootID: str = ""
    TrustDomain: str = ""
    Roots: list[CARoot] | None = None


class IndexedCARoots(QueryMeta):
    """ConnectCA.Roots' reply: the roots plus the read's metadata."""

    ActiveRootID: str = ""
    TrustDomain: str = ""
    Roots: list[CARoot] | None = None

    def public(self) -> CARootList:
        """The HTTP body: no query metadata, no signing secrets."""
        return CARootList(ActiveRootID=self.ActiveRootID, TrustDomain=self.TrustDomain,
                          Roots=[r.public() for r in self.Roots or ()])


class CAConfiguration(Record):
    """The CA provider and its configuration map, as stored in raft."""

    Provider: str = ""
    Config: dict[str, Any] | None = None
    State: dict[str, str] | None = None
    ForceWithoutCrossSigning: bool = False
    ClusterID: str | UnsetType = UNSET
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0

    def public(self) -> CAConfiguration:
        """The configuration as /v1/connect/ca/configuration shows it (no ClusterID)."""
        return structs.replace(self, ClusterID=UNSET)


class CAConsulProviderState(Record):
    """The built-in provider's secrets, kept in the servers' state store only."""

    ID: str = ""
    PrivateKey: str = ""
    RootCert: str = ""
    IntermediateCert: str = ""
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0


class CASignRequest(Record):
    """ConnectCA.Sign / SignIntermediate: a PEM CSR to sign."""

    CSR: str = ""
    Datacenter: str = ""
    Token: str = ""


class IssuedCert(Record):
    """A signed leaf; PrivateKeyPEM is filled in by the agent that made the key, never a server."""

    SerialNumber: str = ""
    CertPEM: str | UnsetType = UNSET
    PrivateKeyPEM: str | UnsetType = UNSET
    Service: str | UnsetType = UNSET
    ServiceURI: str | UnsetType = UNSET
    Agent: str | UnsetType = UNSET
    AgentURI: str | UnsetType = UNSET
    ServerURI: str | UnsetType = UNSET
    Kind: str | UnsetType = UNSET
    KindURI: str | UnsetType = UNSET
    ValidAfter: datetime.datetime = ZERO_TIME
    ValidBefore: datetime.datetime = ZERO_TIME
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0


class CARequest(Record):
    """A raft command changing CA state (Op is one of the CA_OP_* values)."""

    Op: str
    Datacenter: str = ""
    Index: Uint64 = 0
    Roots: list[CARoot] | None = None
    Config: CAConfiguration | None = None
    ProviderState: CAConsulProviderState | None = None
    SerialCount: Int = 0  # increment-provider-serial: how many serials to reserve (0 = 1)
    Token: str = ""


class CAConfigError(ValueError):
    """A CA configuration map is invalid; the message is Consul's."""


@dataclass(frozen=True, slots=True)
class CommonCAConfig:
    """The provider-independent CA settings, durations in nanoseconds.

    ``private_key``/``root_cert``/``disable_cross_signing`` are the built-in
    provider's own keys; other providers ignore them."""

    leaf_cert_ttl: int = DEFAULT_LEAF_CERT_TTL_NS
    intermediate_cert_ttl: int = DEFAULT_INTERMEDIATE_CERT_TTL_NS
    root_cert_ttl: int = DEFAULT_ROOT_CERT_TTL_NS
    skip_validate: bool = False
    csr_max_per_second: float = DEFAULT_CSR_MAX_PER_SECOND
    csr_max_concurrent: int = 0
    private_key_type: str = "ec"
    private_key_bits: int = 256
    private_key: str = ""
    root_cert: str = ""
    disable_cross_signing: bool = False

    def validate(self) -> None:
        """Consul's CommonCAProviderConfig.Validate, with its messages."""
        if self.skip_validate:
            return
        if self.root_cert_ttl < self.intermediate_cert_ttl:
            raise CAConfigError(
                "root cert TTL is set and is not greater than intermediate cert ttl. "
                f"root cert ttl: {format_duration(self.root_cert_ttl)}, "
                f"intermediate cert ttl: {format_duration(self.intermediate_cert_ttl)}")
        if self.leaf_cert_ttl < MIN_LEAF_CERT_TTL_NS:
            raise CAConfigError("leaf cert TTL must be greater or equal than "
                                f"{format_duration(MIN_LEAF_CERT_TTL_NS)}")
        if self.leaf_cert_ttl > MAX_LEAF_CERT_TTL_NS:
            raise CAConfigError(
                f"leaf cert TTL must be less than {format_duration(MAX_LEAF_CERT_TTL_NS)}")
        if self.intermediate_cert_ttl < 3 * INTERMEDIATE_CERT_RENEW_INTERVAL_NS:
            raise CAConfigError("Intermediate Cert TTL must be greater or equal than "
                                f"{3 * INTERMEDIATE_CERT_RENEW_INTERVAL_NS // HOUR}h")
        if self.intermediate_cert_ttl < 3 * self.leaf_cert_ttl:
            raise CAConfigError("Intermediate Cert TTL must be greater or equal than "
                                f"3 * LeafCertTTL (>={format_duration(3 * self.leaf_cert_ttl)}).")
        if self.private_key_type == "ec":
            if self.private_key_bits not in (224, 256, 384, 521):
                raise CAConfigError("EC key length must be one of (224, 256, 384, 521) bits")
        elif self.private_key_type == "rsa":
            if self.private_key_bits not in (2048, 4096):
                raise CAConfigError("RSA key length must be 2048 or 4096 bits")
        else:
            raise CAConfigError("private key type must be either 'ec' or 'rsa'")
        if self.root_cert and not self.private_key:
            raise CAConfigError("must provide a private key when providing a root cert")


# Config map key (lower-case, no underscores) -> (field, kind). Consul decodes the map
# case-insensitively (mapstructure); agent config files use the snake_case spellings.
_KEYS = {
    "leafcertttl": ("leaf_cert_ttl", "duration"),
    "intermediatecertttl": ("intermediate_cert_ttl", "duration"),
    "rootcertttl": ("root_cert_ttl", "duration"),
    "skipvalidate": ("skip_validate", "bool"),
    "csrmaxpersecond": ("csr_max_per_second", "float"),
    "csrmaxconcurrent": ("csr_max_concurrent", "int"),
    "privatekeytype": ("private_key_type", "str"),
    "privatekeybits": ("private_key_bits", "int"),
    "privatekey": ("private_key", "str"),
    "rootcert": ("root_cert", "str"),
    "disablecrosssigning": ("disable_cross_signing", "bool"),
}


def parse_ca_config(config: dict[str, Any] | None, validate: bool = True) -> CommonCAConfig:
    """The settings of a CA config map over Consul's defaults; unknown keys are ignored.

    CAConfigError ("error decoding config: ..." or a validation message)."""
    values: dict[str, Any] = {}
    for key, raw in (config or {}).items():
        spec = _KEYS.get(key.replace("_", "").lower())
        if spec is None:
            continue
        field, kind = spec
        try:
            values[field] = _decode(raw, kind)
        except (TypeError, ValueError) as exc:
            raise CAConfigError(f"error decoding config: '{key}' {exc}") from None
    parsed = CommonCAConfig(**values)
    if validate:
        parsed.validate()
    return parsed


def _decode(raw: Any, kind: str) -> Any:
    """Weakly typed decoding, as mapstructure's WeaklyTypedInput does."""
    if kind == "duration":
        if isinstance(raw, str):
            try:
                return parse_duration(raw)
            except DurationError as exc:
                raise ValueError(str(exc)) from None
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            return int(raw)
        raise TypeError(f"expected a duration, got {type(raw).__name__}")
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, int | float):
            return raw != 0
        if isinstance(raw, str):
            lowered = raw.lower()
            if lowered in ("1", "t", "true"):
                return True
            if lowered in ("", "0", "f", "false"):
                return False
        raise ValueError(f"cannot parse {raw!r} as bool")
    if kind == "int":
        if isinstance(raw, bool):
            return int(raw)
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        if isinstance(raw, int | str):
            return int(raw)
        raise TypeError(f"expected an int, got {type(raw).__name__}")
    if kind == "float":
        if isinstance(raw, bool):
            return float(raw)
        return float(raw)
    if not isinstance(raw, str):
        raise TypeError(f"expected a string, got {type(raw).__name__}")
    return raw
