"""Login with a ``kubernetes`` auth method: the cluster's TokenReview API vouches for
a service account JWT; its ``consul.hashicorp.com/service-name`` annotation, when
set, replaces the name binding rules see (as Consul does)."""

from __future__ import annotations

import asyncio
import json
import ssl
import urllib.request
from typing import Any

from proconsul.server.acl.jwt_login import KubernetesFields, LoginError
from proconsul.structs.acl import ACLAuthMethod

SERVICE_NAME_ANNOTATION = "consul.hashicorp.com/service-name"
TIMEOUT = 10.0


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
