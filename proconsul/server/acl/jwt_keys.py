"""Where a ``jwt`` auth method's keys come from, and the checks of its Config.

Exactly one source, as in Consul: ``JWTValidationPubKeys`` (PEM keys in the
config), ``JWKSURL`` (a JWKS document, over TLS trusting ``JWKSCACert`` when
given) or ``OIDCDiscoveryURL`` (the provider's
``/.well-known/openid-configuration``, whose ``issuer`` must be the URL itself
and whose ``jwks_uri`` gives the keys; TLS trusts ``OIDCDiscoveryCACert``).
A token verified through discovery must be issued by that issuer.

:func:`check_config` is what AuthMethodSet runs (it fetches, so a method that
cannot work is refused when it is written); :func:`login_keys` is what a login
runs. Errors are :class:`~proconsul.server.acl.jwt_login.LoginError` with
Consul's text.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization

from proconsul.server.acl.jwt_login import LoginError, jwks_keys

FETCH_TIMEOUT = 10.0
MAX_DOCUMENT = 1 << 20
WELL_KNOWN = "/.well-known/openid-configuration"
# fields only the (Enterprise) oidc flow takes
_OIDC_ONLY = ("OIDCClientID", "OIDCClientSecret", "OIDCScopes", "OIDCACRValues",
              "AllowedRedirectURIs", "VerboseOIDCLogging")
_SUPPORTED_ALGS = frozenset({"RS256", "RS384", "RS512", "ES256", "ES384", "ES512",
                             "PS256", "PS384", "PS512"})


@dataclass(frozen=True)
class KeySource:
    """The keys a login verifies with and, after OIDC discovery, the issuer it demands."""

    keys: list[Any]
    issuer: str | None = None


def validate_config(config: dict[str, Any]) -> None:
    """The checks of a jwt method's Config that need no network (Consul's texts)."""
    for name in _OIDC_ONLY:
        if config.get(name):
            raise LoginError(f"'{name}' must not be set for type \"jwt\"")
    sources = sum(1 for name in ("OIDCDiscoveryURL", "JWTValidationPubKeys", "JWKSURL")
                  if config.get(name))
    if sources != 1:
        raise LoginError("exactly one of 'JWTValidationPubKeys', 'JWKSURL', or "
                         "'OIDCDiscoveryURL' must be set for type \"jwt\"")
    if config.get("JWKSCACert") and not config.get("JWKSURL"):
        raise LoginError("'JWKSCACert' should not be set unless 'JWKSURL' is set")
    if config.get("OIDCDiscoveryCACert") and not config.get("OIDCDiscoveryURL"):
        raise LoginError("'OIDCDiscoveryCACert' should not be set unless 'OIDCDiscoveryURL' "
                         "is set")
    for i, text in enumerate(config.get("JWTValidationPubKeys") or []):
        try:
            serialization.load_pem_public_key(str(text).encode())
        except (ValueError, TypeError) as err:
            raise LoginError(f"error parsing public key JWTValidationPubKeys[{i}]: "
                             f"{err}") from None
    for name in ("JWKSCACert", "OIDCDiscoveryCACert"):
        if config.get(name):
            try:
                _tls(config[name])
            except LoginError as err:
                raise LoginError(f"error checking {name}: {err}") from None
    for alg in config.get("JWTSupportedAlgs") or []:
        if alg not in _SUPPORTED_ALGS:
            raise LoginError(f"Invalid supported algorithm: {alg}")
    for name in ("ClaimMappings", "ListClaimMappings"):
        targets = list((config.get(name) or {}).values())
        for target in targets:
            if targets.count(target) > 1:
                raise LoginError(f"{name} contains multiple mappings for key "
                                 f"{json.dumps(target)}")


async def check_config(config: dict[str, Any]) -> None:
    """:func:`validate_config`, then fetch what the method names, as Consul does when
    the method is written."""
    validate_config(config)
    if config.get("JWKSURL"):
        try:
            await _fetch_json(config["JWKSURL"], config.get("JWKSCACert"))
        except LoginError as err:
            raise LoginError(f"error checking JWKSURL: {err}") from None
    elif config.get("OIDCDiscoveryURL"):
        try:
            await discover(config["OIDCDiscoveryURL"], config.get("OIDCDiscoveryCACert"))
        except LoginError as err:
            raise LoginError(f"error checking OIDCDiscoveryURL: {err}") from None


async def login_keys(config: dict[str, Any]) -> KeySource:
    """The keys (and issuer) to verify a login's bearer token with."""
    if config.get("OIDCDiscoveryURL"):
        ca = config.get("OIDCDiscoveryCACert")
        provider = await discover(config["OIDCDiscoveryURL"], ca)
        jwks_uri = provider.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri:
            raise LoginError("oidc: provider discovery object has no jwks_uri")
        return KeySource(jwks_keys(await _fetch_json(jwks_uri, ca)), provider["issuer"])
    if config.get("JWKSURL"):
        url = config["JWKSURL"]
        try:
            document = await _fetch_json(url, config.get("JWKSCACert"))
        except LoginError as err:
            raise LoginError(f"failed to fetch JWKS from {url}: {err}") from None
        return KeySource(jwks_keys(document))
    keys = []
    for text in config.get("JWTValidationPubKeys") or []:
        try:
            keys.append(serialization.load_pem_public_key(str(text).encode()))
        except (ValueError, TypeError):
            continue
    return KeySource(keys)


async def discover(url: str, ca_pem: str | None) -> dict[str, Any]:
    """The provider's discovery document, whose ``issuer`` must be ``url`` itself."""
    document = await _fetch_json(url.rstrip("/") + WELL_KNOWN, ca_pem)
    if not isinstance(document, dict):
        raise LoginError("oidc: failed to decode provider discovery object")
    issuer = document.get("issuer")
    if issuer != url:
        raise LoginError("oidc: issuer did not match the issuer returned by provider, "
                         f"expected {json.dumps(url)} got {json.dumps(issuer)}")
    return document


def _tls(ca_pem: str | None) -> ssl.SSLContext | None:
    if not ca_pem:
        return None
    try:
        return ssl.create_default_context(cadata=ca_pem)
    except (ssl.SSLError, ValueError, TypeError):
        raise LoginError("could not parse CA PEM value successfully") from None


async def _fetch_json(url: str, ca_pem: str | None) -> Any:
    context = _tls(ca_pem)
    if not url.startswith(("https://", "http://")):
        raise LoginError(f"unsupported protocol scheme in {json.dumps(url)}")

    def fetch() -> bytes:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT,  # noqa: S310 (scheme checked)
                                    context=context) as response:
            return response.read(MAX_DOCUMENT)

    try:
        body = await asyncio.to_thread(fetch)
    except urllib.error.HTTPError as err:
        raise LoginError(f"{err.code} {err.reason}") from None
    except (OSError, ValueError) as err:
        raise LoginError(str(getattr(err, "reason", None) or err)) from None
    try:
        return json.loads(body)
    except ValueError as err:
        raise LoginError(f"invalid JSON from {url}: {err}") from None
