"""``/v1/internal/ui/metrics-proxy/*``: the UI's read-only proxy to one metrics backend
(``ui_config.metrics_proxy``), as Consul's agent serves it.

404 while the UI is off or no ``base_url`` is set; the ACL token is taken from the
headers only (a backend may use ``?token`` for itself) and removed before proxying;
it needs read on every node and every service (403). The rest of the path is
appended to ``base_url``, cleaned, and must be one of ``path_allowlist`` when that is
set (403 with an empty body otherwise); the query string passes through and
``add_headers`` are set (``Host`` sets the request's host). An unreachable backend
is a 502 that says why.
"""

from __future__ import annotations

import logging
import posixpath
from urllib.parse import quote, urlsplit

import aiohttp
import yarl

from proconsul.agent import ui as ui_assets
from proconsul.lib import httpserver as web
from proconsul.server.acl_enforce import UNRESTRICTED, Identity
from proconsul.structs.errors import BadRequest, NotFound

log = logging.getLogger("proconsul.agent.ui_metrics_proxy")

PREFIX = "/v1/internal/ui/metrics-proxy"
# not forwarded either way (RFC 7230 hop-by-hop), plus what the proxy sets itself
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                        "te", "trailer", "transfer-encoding", "upgrade", "host",
                        "content-length"})
TIMEOUT = aiohttp.ClientTimeout(total=60, sock_connect=10)
PATH_SAFE = "/:@!$&'()*+,;=~"  # kept as they are when the cleaned path is re-encoded


def clean_path(path: str) -> str:
    """Go's path.Clean: ``..`` and ``.`` resolved, duplicate and trailing slashes gone."""
    cleaned = posixpath.normpath(path or ".")
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def target_url(base_url: str, sub_path: str, allowlist: list[str]) -> tuple[str, bool]:
    """The backend URL (without query) for a request path and whether the allowlist lets
    it through; BadRequest when the URL does not parse or escapes ``base_url``."""
    try:
        parts = urlsplit(base_url + sub_path)
    except ValueError:
        raise BadRequest("Invalid path.") from None
    path = clean_path(parts.path)
    allowed = not allowlist or path in allowlist
    url = parts._replace(path=path, query="", fragment="").geturl()
    if not url.startswith(base_url):
        raise BadRequest("Invalid path.")
    return url, allowed


def _header_token(request: web.Request) -> str:
    token = request.headers.get("x-consul-token")
    if token is None:
        scheme, _, value = (request.headers.get("authorization") or "").strip().partition(" ")
        token = value.strip() if scheme.lower() == "bearer" else ""
    return token or request.app["agent"].tokens.default


async def _identity(request: web.Request) -> Identity:
    agent = request.app["agent"]
    if not agent.config.acl.enabled:
        return UNRESTRICTED
    secret = _header_token(request)
    return Identity.of(await agent.acl.resolve(secret), secret)


def _forward_headers(request: web.Request, add_headers: list[dict]) -> dict[str, str]:
    headers = {name: value for name, value in request.headers.items()
               if name not in HOP_BY_HOP and name != "x-consul-token"
               and not (name == "authorization" and value.strip().lower().startswith("bearer"))}
    for header in add_headers:
        name, value = str(header.get("name", "")), str(header.get("value", ""))
        if name:
            headers["Host" if name.lower() == "host" else name] = value
    return headers


async def proxy(request: web.Request) -> web.Response:
    agent = request.app["agent"]
    tree = agent.config.tree
    if not ui_assets.enabled(tree, agent.config.dev):
        raise NotFound("UI is not enabled")
    config = (tree.get("ui_config") or {}).get("metrics_proxy") or {}
    base_url = config.get("base_url") or ""
    if not base_url:
        raise NotFound("Metrics proxy is not enabled")
    ident = await _identity(request)
    ident.require("node_read_all")
    ident.require("service_read_all")
    url, allowed = target_url(base_url, request.path[len(PREFIX):],
                              list(config.get("path_allowlist") or []))
    if not allowed:
        log.error("target URL path is not allowed: base_url=%s target_url=%s", base_url, url)
        return web.Response(status=403)
    scheme, netloc, path = urlsplit(url)[:3]
    encoded = f"{scheme}://{netloc}{quote(path, safe=PATH_SAFE)}"
    if request.query_string:
        encoded += "?" + request.query_string
    headers = _forward_headers(request, list(config.get("add_headers") or []))
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT, auto_decompress=False) as session, \
                session.get(yarl.URL(encoded, encoded=True), headers=headers,
                            allow_redirects=False) as reply:
            body = await reply.read()
            out = {name: value for name, value in reply.headers.items()
                   if name.lower() not in HOP_BY_HOP}
            return web.Response(status=reply.status, body=body, headers=out)
    except (aiohttp.ClientError, TimeoutError, OSError) as err:
        log.error("metrics proxy to %s failed: %s", url, err)
        return web.Response(status=502, text=f"Metrics proxy: {url} could not be reached: "
                                             f"{err or type(err).__name__}")
