"""Login with a ``kubernetes`` auth method: the cluster's TokenReview API vouches for
a service account JWT; its ``consul.hashicorp.com/service-name`` annotation, when
set, replaces the name binding rules see (as Consul does)."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import urllib.request
from typing import Any

from cryptography import x509

from proconsul.server.acl.jwt_login import KubernetesFields, LoginError
from proconsul.structs.acl import ACLAuthMethod

SERVICE_NAME_ANNOTATION = "consul.hashicorp.com/service-name"
TIMEOUT = 10.0


def validate_config(config: dict[str, Any]) -> None:
    """What Consul checks of a kubernetes method's Config when it is written."""
    if not config.get("Host"):
        raise LoginError("Config.Host is required")
    if not config.get("CACert"):
        raise LoginError("Config.CACert is required")
    try:
        x509.load_pem_x509_certificates(str(config["CACert"]).encode())
    except ValueError:
        raise LoginError("error parsing kubernetes ca cert: data does not contain any valid "
                         "RSA or ECDSA certificates") from None
    reviewer = config.get("ServiceAccountJWT")
    if not reviewer:
        raise LoginError("Config.ServiceAccountJWT is required")
    problem = _jws_problem(str(reviewer))
    if problem:
        raise LoginError(f"Config.ServiceAccountJWT is not a valid JWT: {problem}")


def _jws_problem(text: str) -> str:
    """Why ``text`` is not a compact JWS ("" when it is one)."""
    parts = text.split(".")
    if len(parts) != 3:
        return "compact JWS format must have three parts"
    try:
        header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    except ValueError:
        return "the protected header is not base64url-encoded JSON"
    if not isinstance(header, dict) or "alg" not in header:
        return "the protected header names no algorithm (alg)"
    return ""


def _call(config: dict[str, Any], method: str, path: str, body: Any = None) -> Any:
    host = str(config.get("Host", "")).rstrip("/")
    if not host:
        raise LoginError("kubernetes auth method has no Host")
    context = None
    if host.startswith("https://"):
        context = ssl.create_default_context(cadata=config.get("CACert") or None)
    request = urllib.request.Request(
        host + path, method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {config.get('ServiceAccountJWT', '')}",
                 "Content-Type": "application/json", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT, context=context) as reply:  # noqa: S310
            return json.loads(reply.read(1 << 20))
    except (OSError, ValueError) as err:
        raise LoginError(f"kubernetes API call {method} {path} failed: {err}") from None


def _review(config: dict[str, Any], bearer: str) -> KubernetesFields:
    review = _call(config, "POST", "/apis/authentication.k8s.io/v1/tokenreviews", {
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
        "spec": {"token": bearer}})
    status = (review.get("status") or {}) if isinstance(review, dict) else {}
    if not status.get("authenticated"):
        why = status.get("error") or "service account JWT is not authenticated"
        raise LoginError(f"lookup failed: {why}")
    user = status.get("user") or {}
    parts = str(user.get("username", "")).split(":")
    if len(parts) != 4 or parts[:2] != ["system", "serviceaccount"]:
        raise LoginError("lookup failed: JWT is not a service account token")
    namespace, name = parts[2], parts[3]
    account = _call(config, "GET", f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}")
    annotations = ((account or {}).get("metadata") or {}).get("annotations") or {}
    name = annotations.get(SERVICE_NAME_ANNOTATION) or name
    return KubernetesFields(serviceaccount={"namespace": namespace, "name": name,
                                            "uid": str(user.get("uid", ""))})


async def verify_kubernetes(method: ACLAuthMethod, bearer: str) -> KubernetesFields:
    """The service account ``bearer`` belongs to, as the cluster's API says."""
    if not bearer:
        raise LoginError("Missing bearer token")
    return await asyncio.to_thread(_review, method.Config or {}, bearer)
