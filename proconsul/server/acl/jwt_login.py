"""Login: verify a bearer token (``jwt`` here; kubernetes in kubernetes_login.py), then
bind the identity it proves to ACL links with the method's binding rules.

The keys come from jwt_keys.py (static PEMs, a JWKS URL or OIDC discovery); the
claims that binding rules see are ``value.<name>`` (``ClaimMappings``) and
``list.<name>`` (``ListClaimMappings``), as in Consul.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from proconsul.lib.bexpr import FilterError, compile_filter
from proconsul.lib.duration import DurationError, parse_duration
from proconsul.structs.acl import ACLAuthMethod, ACLBindingRule

DEFAULT_LEEWAY = 150.0  # seconds, Consul's expiration / not-before leeway
_HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_INTERPOLATION = re.compile(r"\$\{([^}]*)\}")


class LoginError(ValueError):
    """The bearer token does not prove an identity (the text says why)."""


# What binding rule selectors and bind names see: ``value.<name>`` and ``list.<name>``
# (made with defstruct because a class body cannot have a field named ``list``).
LoginFields = msgspec.defstruct("LoginFields", [
    ("value", dict[str, str], msgspec.field(default_factory=dict)),
    ("list", dict[str, list[str]], msgspec.field(default_factory=dict)),
])


class KubernetesFields(msgspec.Struct):
    """What a kubernetes login shows binding rules: ``serviceaccount.<name|namespace|uid>``."""

    serviceaccount: dict[str, str] = msgspec.field(default_factory=dict)


@dataclass
class Bindings:
    """What a login token gets from the matching binding rules."""

    service_identities: list[str] = field(default_factory=list)
    node_identities: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    policies: list[str] = field(default_factory=list)
    templated: list[tuple[str, str]] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.service_identities or self.node_identities or self.roles
                    or self.policies or self.templated)


def _b64(part: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except ValueError:
        raise LoginError("invalid bearer token: not a JWT") from None


def _verify(key: Any, alg: str, signed: bytes, signature: bytes) -> None:
    digest = _HASHES.get(alg[2:])
    if alg.startswith("RS") and digest and isinstance(key, rsa.RSAPublicKey):
        key.verify(signature, signed, padding.PKCS1v15(), digest())
    elif alg.startswith("PS") and digest and isinstance(key, rsa.RSAPublicKey):
        key.verify(signature, signed, padding.PSS(padding.MGF1(digest()), digest().digest_size),
                   digest())
    elif alg.startswith("ES") and digest and isinstance(key, ec.EllipticCurvePublicKey):
        half = len(signature) // 2
        der = encode_dss_signature(int.from_bytes(signature[:half]),
                                   int.from_bytes(signature[half:]))
        key.verify(der, signed, ec.ECDSA(digest()))
    elif alg == "EdDSA" and isinstance(key, ed25519.Ed25519PublicKey):
        key.verify(signature, signed)
    else:
        raise InvalidSignature()


def _seconds(config: dict[str, Any], key: str, default: float) -> float:
    value = config.get(key)
    if value in (None, "", 0):
        return default
    try:
        return parse_duration(value) / 1e9 if isinstance(value, str) else value / 1e9
    except DurationError:
        return default


def _int(value: str) -> int:
    return int.from_bytes(_b64(value))


_CURVES = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1}


def jwks_keys(document: Any) -> list[Any]:
    """The public keys of a JWKS document (RSA, EC and Ed25519; others skipped)."""
    keys = []
    for jwk in (document or {}).get("keys", []) if isinstance(document, dict) else []:
        try:
            kty = jwk.get("kty")
            if kty == "RSA":
                keys.append(rsa.RSAPublicNumbers(_int(jwk["e"]), _int(jwk["n"])).public_key())
            elif kty == "EC" and jwk.get("crv") in _CURVES:
                keys.append(ec.EllipticCurvePublicNumbers(
                    _int(jwk["x"]), _int(jwk["y"]), _CURVES[jwk["crv"]]()).public_key())
            elif kty == "OKP" and jwk.get("crv") == "Ed25519":
                keys.append(ed25519.Ed25519PublicKey.from_public_bytes(_b64(jwk["x"])))
        except (KeyError, ValueError, TypeError, AttributeError, LoginError):
            continue
    return keys


def static_keys(config: dict[str, Any]) -> list[Any]:
    """The keys of ``JWTValidationPubKeys`` (PEM)."""
    keys = []
    for text in config.get("JWTValidationPubKeys") or []:
        try:
            keys.append(serialization.load_pem_public_key(text.encode()))
        except (ValueError, TypeError):
            continue
    return keys


def verify_jwt(method: ACLAuthMethod, bearer: str, now: datetime,
               keys: list[Any] | None = None, issuer: str | None = None) -> LoginFields:
    """Check the JWT's signature (with ``keys``, else the static keys) and claims
    against the method's config; ``issuer`` (from OIDC discovery) is the only
    ``iss`` accepted, and replaces ``BoundIssuer``."""
    config = method.Config or {}
    parts = bearer.split(".")
    if len(parts) != 3:
        raise LoginError("invalid bearer token: not a JWT")
    try:
        header = json.loads(_b64(parts[0]))
        claims = json.loads(_b64(parts[1]))
    except ValueError:
        raise LoginError("invalid bearer token: not a JWT") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise LoginError("invalid bearer token: not a JWT")
    keys = static_keys(config) if keys is None else keys
    if not keys:
        raise LoginError("no keys to verify the token with (JWTValidationPubKeys, JWKSURL "
                         "or OIDCDiscoveryURL)")
    signed, signature = f"{parts[0]}.{parts[1]}".encode(), _b64(parts[2])
    for key in keys:
        try:
            _verify(key, str(header.get("alg", "")), signed, signature)
            break
        except (InvalidSignature, ValueError, TypeError):
            continue
    else:
        raise LoginError("failed to verify signature: no known key successfully validated "
                         "the token signature")
    stamp = now.timestamp()
    skew = _seconds(config, "ClockSkewLeeway", 60.0)
    if "exp" in claims and stamp > float(claims["exp"]) + _seconds(
            config, "ExpirationLeeway", DEFAULT_LEEWAY) + skew:
        raise LoginError("token is expired (exp)")
    if "nbf" in claims and stamp < float(claims["nbf"]) - _seconds(
            config, "NotBeforeLeeway", DEFAULT_LEEWAY) - skew:
        raise LoginError("token not valid yet (nbf)")
    if issuer is not None:
        if claims.get("iss") != issuer:
            raise LoginError("error validating signature: oidc: id token issued by a different "
                             f"provider, expected {json.dumps(issuer)} got "
                             f"{json.dumps(claims.get('iss'))}")
    elif config.get("BoundIssuer") and claims.get("iss") != config["BoundIssuer"]:
        raise LoginError("validation failed, invalid issuer claim (iss)")
    audiences = config.get("BoundAudiences") or []
    if audiences:
        aud = claims.get("aud")
        given = aud if isinstance(aud, list) else [aud] if aud else []
        if not set(given) & set(audiences):
            raise LoginError("invalid audience (aud) claim: audience claim does not match any "
                             "expected audience")
    fields = LoginFields()
    for claim, name in (config.get("ClaimMappings") or {}).items():
        found = _claim(claims, claim)
        if found is not None and not isinstance(found, dict | list):
            fields.value[name] = str(found).lower() if isinstance(found, bool) else str(found)
    for claim, name in (config.get("ListClaimMappings") or {}).items():
        found = _claim(claims, claim)
        if isinstance(found, list):
            fields.list[name] = [str(item) for item in found]
    return fields


def _claim(claims: dict[str, Any], name: str) -> Any:
    """A claim by name, or by JSON pointer (``/a/b``)."""
    if not name.startswith("/"):
        return claims.get(name)
    node: Any = claims
    for part in name[1:].split("/"):
        if not isinstance(node, dict):
            return None
        node = node.get(part.replace("~1", "/").replace("~0", "~"))
    return node


def interpolate(text: str, fields: Any) -> str:
    """``${value.x}`` (or ``${serviceaccount.name}``) replaced; an unknown name is an error."""
    def sub(match: re.Match[str]) -> str:
        kind, _, name = match.group(1).strip().partition(".")
        values = getattr(fields, kind, None) if kind != "list" else None
        if isinstance(values, dict) and isinstance(values.get(name), str):
            return values[name]
        raise LoginError(f"cannot interpolate {match.group(0)}: unknown selector")
    return _INTERPOLATION.sub(sub, text)


def bind(rules: list[ACLBindingRule], fields: Any) -> Bindings:
    """Apply every binding rule whose selector matches ``fields``."""
    out = Bindings()
    for rule in rules:
        if rule.Selector:
            try:
                if not compile_filter(rule.Selector, type(fields)).matches(fields):
                    continue
            except FilterError:
                continue
        name = interpolate(rule.BindName, fields)
        if rule.BindType == "service":
            out.service_identities.append(name)
        elif rule.BindType == "node":
            out.node_identities.append(name)
        elif rule.BindType == "role":
            out.roles.append(name)
        elif rule.BindType == "policy":
            out.policies.append(name)
        elif rule.BindType == "templated-policy":
            variables = rule.BindVars.name if rule.BindVars and rule.BindVars.name else ""
            out.templated.append((name, interpolate(variables, fields)))
    return out
