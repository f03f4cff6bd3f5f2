"""ACL.Login / ACL.Logout with a jwt auth method on an in-process server."""

from __future__ import annotations

import base64
import json
import re
import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from proconsul.lib.acl.authorizer import ALLOW, DENY
from proconsul.server.acl.resolver import ACLNotFound
from proconsul.structs.acl import (
    ACLAuthMethod,
    ACLBindingRule,
    ACLPolicy,
    ACLRole,
    ACLTemplatedPolicyVariables,
)
from proconsul.structs.acl_rpc import (
    ACLAuthMethodSetRequest,
    ACLBindingRuleSetRequest,
    ACLLoginParams,
    ACLLoginRequest,
    ACLLogoutRequest,
    ACLPolicySetRequest,
    ACLRoleSetRequest,
)
from proconsul.structs.errors import BadRequest, Forbidden
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


def jwk_of(key) -> dict:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        numbers = key.public_key().public_numbers()
        return {"kty": "EC", "crv": "P-256", "x": b64(numbers.x.to_bytes(32)),
                "y": b64(numbers.y.to_bytes(32))}
    numbers = key.public_key().public_numbers()
    return {"kty": "RSA", "e": b64(numbers.e.to_bytes(3)),
            "n": b64(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8))}


@pytest.fixture
def jwks_server(keys):
    import http.server
    import threading

    document = json.dumps({"keys": [jwk_of(keys[0]), jwk_of(keys[1])]}).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *args) -> None:
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/jwks"
    httpd.shutdown()
    httpd.server_close()


async def test_login_with_keys_from_a_jwks_url(server, keys, jwks_server):  # noqa: F811
    await setup_method(server, keys, JWTValidationPubKeys=[], JWKSURL=jwks_server)
    for bearer in (sign_es256(keys[0], claims()), sign_rs256(keys[1], claims())):
        token = await login(server, bearer)
        assert [s.ServiceName for s in token.ServiceIdentities] == ["web"]
    with pytest.raises(Forbidden, match="failed to verify signature"):
        await login(server, sign_es256(ec.generate_private_key(ec.SECP256R1()), claims()))


# the reviewer's own service account JWT: Consul only checks it is a compact JWS
REVIEWER_JWT = ".".join([b64(json.dumps({"alg": "RS256"}).encode()), b64(b"{}"), "c2ln"])


def kube_config(host: str, **changes) -> dict:
    """A kubernetes method's Config with a CA certificate that parses."""
    import tempfile
    from pathlib import Path

    from tests.support.certs import write_test_pki

    with tempfile.TemporaryDirectory() as tmp:
        ca = (write_test_pki(Path(tmp), "localhost") / "ca.pem").read_text()
    return {"Host": host, "CACert": ca, "ServiceAccountJWT": REVIEWER_JWT, **changes}


@pytest.mark.parametrize(("changes", "message"), [
    ({"Host": ""}, "Config.Host is required"),
    ({"CACert": ""}, "Config.CACert is required"),
    ({"CACert": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"},
     "error parsing kubernetes ca cert: "),
    ({"ServiceAccountJWT": ""}, "Config.ServiceAccountJWT is required"),
    ({"ServiceAccountJWT": "jwt-text"},
     "Config.ServiceAccountJWT is not a valid JWT: compact JWS format must have three parts"),
])
async def test_kubernetes_config_errors_name_the_field(server, changes, message):  # noqa: F811
    with pytest.raises(BadRequest) as err:
        await server.rpc("ACL.AuthMethodSet", ACLAuthMethodSetRequest(AuthMethod=ACLAuthMethod(
            Name="k8s", Type="kubernetes",
            Config=kube_config("https://127.0.0.1:6443", **changes)), Token=ROOT))
    assert err.value.message.startswith("Invalid Auth Method: " + message), err.value.message


@pytest.fixture
def kube_api():
    """A TokenReview API: token "good" is default/api-sa (annotated service name "api"),
    "plain" is default/worker; the reviewer must present REVIEWER_JWT."""
    import http.server
    import threading

    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _reply(self, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # noqa: N802
            assert self.headers["Authorization"] == f"Bearer {REVIEWER_JWT}"
            review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            token = review["spec"]["token"]
            seen.append(token)
            users = {"good": "system:serviceaccount:default:api-sa",
                     "plain": "system:serviceaccount:default:worker"}
            if token not in users:
                self._reply({"status": {"authenticated": False, "error": "invalid token"}})
                return
            self._reply({"status": {"authenticated": True,
                                    "user": {"username": users[token], "uid": "u-1"}}})

        def do_GET(self) -> None:  # noqa: N802
            annotations = ({"consul.hashicorp.com/service-name": "api"}
                           if self.path.endswith("/api-sa") else {})
            self._reply({"metadata": {"annotations": annotations}})

        def log_message(self, *args) -> None:
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    httpd.shutdown()
    httpd.server_close()


async def test_kubernetes_login_through_token_review(server, kube_api):  # noqa: F811
    host, seen = kube_api
    await server.rpc("ACL.AuthMethodSet", ACLAuthMethodSetRequest(AuthMethod=ACLAuthMethod(
        Name="k8s", Type="kubernetes",
        Config=kube_config(host)), Token=ROOT))
    await server.rpc("ACL.BindingRuleSet", ACLBindingRuleSetRequest(BindingRule=ACLBindingRule(
        AuthMethod="k8s", BindType="service", BindName="${serviceaccount.name}",
        Selector="serviceaccount.namespace == default"), Token=ROOT))

    async def k8s_login(bearer: str):
        return await server.rpc("ACL.Login", ACLLoginRequest(Auth=ACLLoginParams(
            AuthMethod="k8s", BearerToken=bearer)))

    assert [s.ServiceName for s in (await k8s_login("good")).ServiceIdentities] == ["api"]
    assert [s.ServiceName for s in (await k8s_login("plain")).ServiceIdentities] == ["worker"]
    with pytest.raises(Forbidden, match="lookup failed: invalid token"):
        await k8s_login("forged")
    assert seen == ["good", "plain", "forged"]


@pytest.fixture
def oidc_provider(keys, tmp_path):
    """An OIDC provider over HTTPS with a test CA: discovery document and JWKS.
    Yields (issuer URL, CA PEM, the discovery document, which a test may alter)."""
    import http.server
    import ssl
    import threading

    from tests.support.certs import write_test_pki

    pki = write_test_pki(tmp_path, "localhost")
    jwks = json.dumps({"keys": [jwk_of(keys[0]), jwk_of(keys[1])]}).encode()
    discovery: dict = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = {"/.well-known/openid-configuration": json.dumps(discovery).encode(),
                    "/keys": jwks}.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body or b"not found")

        def log_message(self, *args) -> None:
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / "server.pem")
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    issuer = f"https://127.0.0.1:{httpd.server_address[1]}"
    discovery.update(issuer=issuer, jwks_uri=issuer + "/keys")
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield issuer, (pki / "ca.pem").read_text(), discovery
    httpd.shutdown()
    httpd.server_close()


async def test_login_through_oidc_discovery_over_tls(server, keys, oidc_provider):  # noqa: F811
    issuer, ca, _ = oidc_provider
    await setup_method(server, keys, JWTValidationPubKeys=[], OIDCDiscoveryURL=issuer,
                       OIDCDiscoveryCACert=ca)
    for bearer in (sign_es256(keys[0], claims(iss=issuer)),
                   sign_rs256(keys[1], claims(iss=issuer))):
        token = await login(server, bearer)
        assert [s.ServiceName for s in token.ServiceIdentities] == ["web"]
    with pytest.raises(Forbidden, match=(
            "^Permission denied: error validating signature: oidc: id token issued by a "
            f'different provider, expected "{issuer}" got "test"$')):
        await login(server, sign_es256(keys[0], claims()))
    with pytest.raises(Forbidden, match="failed to verify signature"):
        await login(server, sign_es256(ec.generate_private_key(ec.SECP256R1()),
                                       claims(iss=issuer)))


async def test_oidc_discovery_is_checked_when_the_method_is_written(
        server, keys, oidc_provider):  # noqa: F811
    issuer, ca, discovery = oidc_provider
    with pytest.raises(BadRequest, match=(
            "^Invalid Auth Method: error checking OIDCDiscoveryURL: .*certificate verify "
            "failed")):
        await setup_method(server, keys, JWTValidationPubKeys=[], OIDCDiscoveryURL=issuer)
    discovery["issuer"] = "https://elsewhere.example"
    with pytest.raises(BadRequest, match=re.escape(
            "Invalid Auth Method: error checking OIDCDiscoveryURL: oidc: issuer did not match "
            f'the issuer returned by provider, expected "{issuer}" got '
            '"https://elsewhere.example"')):
        await setup_method(server, keys, JWTValidationPubKeys=[], OIDCDiscoveryURL=issuer,
                           OIDCDiscoveryCACert=ca)
    assert server.store.acl_auth_methods.get("jwt") is None


@pytest.mark.parametrize(("config", "message"), [
    ({"JWTValidationPubKeys": []}, "exactly one of 'JWTValidationPubKeys', 'JWKSURL', or "
                                   "'OIDCDiscoveryURL' must be set for type \"jwt\""),
    ({"JWKSURL": "https://127.0.0.1:1/keys"},
     "exactly one of 'JWTValidationPubKeys', 'JWKSURL', or 'OIDCDiscoveryURL' must be set"),
    ({"JWTValidationPubKeys": ["not a key"]},
     "error parsing public key JWTValidationPubKeys[0]: "),
    ({"JWKSCACert": "x"}, "'JWKSCACert' should not be set unless 'JWKSURL' is set"),
    ({"OIDCDiscoveryCACert": "x"},
     "'OIDCDiscoveryCACert' should not be set unless 'OIDCDiscoveryURL' is set"),
    ({"OIDCClientID": "c"}, "'OIDCClientID' must not be set for type \"jwt\""),
    ({"JWTSupportedAlgs": ["HS256"]}, "Invalid supported algorithm: HS256"),
    ({"ClaimMappings": {"a": "x", "b": "x"}},
     'ClaimMappings contains multiple mappings for key "x"'),
    ({"JWTValidationPubKeys": [], "JWKSURL": "ftp://127.0.0.1/keys"},
     "error checking JWKSURL: unsupported protocol scheme"),
])
async def test_jwt_config_errors_name_the_field(server, keys, config, message):  # noqa: F811
    with pytest.raises(BadRequest) as err:
        await setup_method(server, keys, **config)
    assert err.value.message.startswith("Invalid Auth Method: " + message), err.value.message


async def test_login_to_a_missing_method_names_it(server):  # noqa: F811
    with pytest.raises(ACLNotFound, match='^ACL not found: auth method "nope" not found$'):
        await server.rpc("ACL.Login", ACLLoginRequest(Auth=ACLLoginParams(
            AuthMethod="nope", BearerToken="x")))


async def test_leeways_absorb_clock_skew_unless_disabled(server, keys):  # noqa: F811
    await setup_method(server, keys)
    skewed = claims(exp=time.time() - 100, nbf=time.time() + 100)
    assert (await login(server, sign_es256(keys[0], skewed))).AuthMethod == "jwt"
    await setup_method(server, keys, ExpirationLeeway=-1, NotBeforeLeeway=-1,
                       ClockSkewLeeway=-1)
    with pytest.raises(Forbidden, match="token is expired"):
        await login(server, sign_es256(keys[0], skewed))
    with pytest.raises(Forbidden, match="not valid yet"):
        await login(server, sign_es256(keys[0], claims(nbf=time.time() + 100)))


async def test_node_role_and_policy_bindings(server, keys):  # noqa: F811
    """node binds a node identity in the server's datacenter; role and policy link by
    name, and a name that does not exist is skipped (the login still succeeds)."""
    await setup_method(server, keys)
    await server.rpc("ACL.PolicySet", ACLPolicySetRequest(Policy=ACLPolicy(
        Name="team-ops", Rules='key_prefix "ops/" { policy = "write" }'), Token=ROOT))
    await server.rpc("ACL.RoleSet", ACLRoleSetRequest(Role=ACLRole(Name="role-ops"),
                                                      Token=ROOT))
    for bind_type, name in (("node", "node-${value.team}"), ("role", "role-${value.team}"),
                            ("policy", "team-${value.team}"), ("role", "ghost-${value.team}")):
        await server.rpc("ACL.BindingRuleSet", ACLBindingRuleSetRequest(
            BindingRule=ACLBindingRule(AuthMethod="jwt", BindType=bind_type, BindName=name,
                                       Selector="value.team == ops"), Token=ROOT))
    token = await login(server, sign_es256(keys[0], claims(groups=[])))
    assert [(n.NodeName, n.Datacenter) for n in token.NodeIdentities] == [
        ("node-ops", server.config.datacenter)]
    assert [r.Name for r in token.Roles] == ["role-ops"]
    assert [p.Name for p in token.Policies] == ["team-ops"]
    authz = server.acl.resolve(token.SecretID).authorizer
    assert authz.key_write("ops/x") is ALLOW and authz.node_write("node-ops") is ALLOW
