"""ACL.Login / ACL.Logout with a jwt auth method on an in-process server."""

from __future__ import annotations

import base64
import json
import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from proconsul.lib.acl.authorizer import ALLOW, DENY
from proconsul.server.acl.resolver import ACLNotFound
from proconsul.structs.acl import ACLAuthMethod, ACLBindingRule, ACLTemplatedPolicyVariables
from proconsul.structs.acl_rpc import (
    ACLAuthMethodSetRequest,
    ACLBindingRuleSetRequest,
    ACLLoginParams,
    ACLLoginRequest,
    ACLLogoutRequest,
)
from proconsul.structs.errors import Forbidden
from tests.unit.server.test_acl_endpoint import ROOT, server  # noqa: F401


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_es256(key: ec.EllipticCurvePrivateKey, claims: dict) -> str:
    head = b64(json.dumps({"alg": "ES256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    r, s = decode_dss_signature(key.sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256())))
    return f"{head}.{body}.{b64(r.to_bytes(32) + s.to_bytes(32))}"


def sign_rs256(key: rsa.RSAPrivateKey, claims: dict) -> str:
    head = b64(json.dumps({"alg": "RS256"}).encode())
    body = b64(json.dumps(claims).encode())
    sig = key.sign(f"{head}.{body}".encode(), PKCS1v15(), hashes.SHA256())
    return f"{head}.{body}.{b64(sig)}"


def pem(key) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.fixture
def keys():
    return ec.generate_private_key(ec.SECP256R1()), rsa.generate_private_key(65537, 2048)


async def setup_method(server, keys, **config) -> None:  # noqa: F811
    ec_key, rsa_key = keys
    await server.rpc("ACL.AuthMethodSet", ACLAuthMethodSetRequest(AuthMethod=ACLAuthMethod(
        Name="jwt", Type="jwt", MaxTokenTTL="5m",
        Config={"JWTValidationPubKeys": [pem(ec_key), pem(rsa_key)], "BoundIssuer": "test",
                "BoundAudiences": ["consul"],
                "ClaimMappings": {"service": "service", "team": "team"},
                "ListClaimMappings": {"groups": "groups"}, **config}), Token=ROOT))
    await server.rpc("ACL.BindingRuleSet", ACLBindingRuleSetRequest(BindingRule=ACLBindingRule(
        AuthMethod="jwt", BindType="service", BindName="${value.service}",
        Selector="value.team == ops"), Token=ROOT))
    await server.rpc("ACL.BindingRuleSet", ACLBindingRuleSetRequest(BindingRule=ACLBindingRule(
        AuthMethod="jwt", BindType="templated-policy", BindName="builtin/node",
        BindVars=ACLTemplatedPolicyVariables(name="node-${value.team}"),
        Selector="admins in list.groups"), Token=ROOT))


def claims(**extra) -> dict:
    return {"iss": "test", "aud": ["consul"], "exp": time.time() + 300, "service": "web",
            "team": "ops", "groups": ["admins"], **extra}


async def login(server, bearer: str, meta=None):  # noqa: F811
    return await server.rpc("ACL.Login", ACLLoginRequest(Auth=ACLLoginParams(
        AuthMethod="jwt", BearerToken=bearer, Meta=meta)))


async def test_login_binds_a_service_identity_and_logout_deletes(server, keys):  # noqa: F811
    await setup_method(server, keys)
    token = await login(server, sign_es256(keys[0], claims()), meta={"pod": "p1"})
    assert token.AuthMethod == "jwt" and token.Local
    assert token.Description == 'token created via login: {"pod":"p1"}'
    assert [s.ServiceName for s in token.ServiceIdentities] == ["web"]
    assert [t.TemplateVariables.name for t in token.TemplatedPolicies] == ["node-ops"]
    assert (token.ExpirationTime - token.CreateTime).total_seconds() == 300
    authz = server.acl.resolve(token.SecretID).authorizer
    assert authz.service_write("web") is ALLOW and authz.service_write("db") is DENY
    assert authz.node_write("node-ops") is ALLOW
    rsa_token = await login(server, sign_rs256(keys[1], claims()))
    assert rsa_token.AccessorID != token.AccessorID
    assert await server.rpc("ACL.Logout", ACLLogoutRequest(Token=token.SecretID)) is True
    with pytest.raises(ACLNotFound):
        server.acl.resolve(token.SecretID)
    with pytest.raises(Forbidden, match="token wasn't created via login"):
        await server.rpc("ACL.Logout", ACLLogoutRequest(Token=ROOT))


@pytest.mark.parametrize(("bad", "message"), [
    ({"iss": "other"}, "invalid issuer"),
    ({"aud": "nobody"}, "invalid audience"),
    ({"exp": time.time() - 3600}, "expired"),
    ({"team": "dev", "groups": []}, r"^Permission denied$"),
])
async def test_bad_or_unbound_logins_are_denied(server, keys, bad, message):  # noqa: F811
    await setup_method(server, keys)
    with pytest.raises(Forbidden, match=message):
        await login(server, sign_es256(keys[0], claims(**bad)))


async def test_forged_signature_is_denied(server, keys):  # noqa: F811
    await setup_method(server, keys)
    forged = sign_es256(ec.generate_private_key(ec.SECP256R1()), claims())
    with pytest.raises(Forbidden, match="failed to verify signature"):
        await login(server, forged)
    with pytest.raises(Forbidden, match="not a JWT"):
        await login(server, "garbage")
