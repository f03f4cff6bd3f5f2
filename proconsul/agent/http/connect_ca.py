"""/v1/connect/ca/* and /v1/agent/connect/ca/*: the CA roots (also as a PEM bundle),
the CA configuration, this agent's leaf certificates, and (beyond Consul) the CA's
health: when every root, intermediate and held leaf expires."""

from __future__ import annotations

import datetime

from proconsul.agent.cache.connect_ca import ConnectCARoots, LeafCertRequest
from proconsul.agent.connect.ca_health import HeldLeaf, assess
from proconsul.agent.http.cached import cache_control, set_cache_meta
from proconsul.agent.http.decode import decode_json
from proconsul.agent.http.params import datacenter, flag, query_options, token
from proconsul.agent.http.reply import json_reply
from proconsul.lib import httpserver as web
from proconsul.server.connect.ca import roots_pem
from proconsul.structs.connect import CAConfiguration, CARequest, parse_ca_config
from proconsul.structs.query import QueryMeta
from proconsul.structs.requests import DCSpecificRequest

ROOTS = ConnectCARoots()
PEM_CHAIN = "application/pem-certificate-chain"


async def roots(request: web.Request) -> web.Response:
    req = query_options(request, DCSpecificRequest(Datacenter=datacenter(request)))
    reply = await request.app["agent"].rpc("ConnectCA.Roots", req)
    if flag(request.query, "pem"):
        response = web.Response(body=roots_pem(reply.Roots or []).encode(),
                                content_type=PEM_CHAIN)
        return _meta(response, reply)
    return json_reply(request, reply.public(), meta=reply)


async def configuration_get(request: web.Request) -> web.Response:
    req = query_options(request, DCSpecificRequest(Datacenter=datacenter(request)))
    return json_reply(request, await request.app["agent"].rpc("ConnectCA.ConfigurationGet", req))


async def configuration_set(request: web.Request) -> web.Response:
    config = decode_json(await request.read(), CAConfiguration)
    await request.app["agent"].rpc("ConnectCA.ConfigurationSet", CARequest(
        Op="set-config", Config=config, Datacenter=datacenter(request), Token=token(request)))
    return web.Response(status=200)


async def agent_roots(request: web.Request) -> web.Response:
    """The roots served from this agent's cache (X-Cache)."""
    agent = request.app["agent"]
    req = query_options(request, DCSpecificRequest(Datacenter=agent.config.datacenter))
    result = await agent.cache.get(ROOTS, req, cache_control(request))
    reply = result.value
    response = json_reply(request, reply.public(), meta=reply)
    response.headers["X-Consul-Index"] = str(max(result.index, 1))
    return set_cache_meta(response, result)


async def agent_leaf(request: web.Request) -> web.Response:
    """The leaf of a service, made on this agent; blocks on ``index`` until a new one."""
    agent = request.app["agent"]
    req = query_options(request, LeafCertRequest(Datacenter=agent.config.datacenter,
                                                 Service=request.match_info["service"]))
    result = await agent.cache.get(agent.connect_leaf, req, cache_control(request))
    response = json_reply(request, result.value.cert)
    response.headers["X-Consul-Index"] = str(max(result.index, 1))
    return set_cache_meta(response, result)


async def ca_health(request: web.Request) -> web.Response:
    """Beyond Consul: every root's, intermediate's and held leaf's expiry, with warnings."""
    agent = request.app["agent"]
    req = DCSpecificRequest(Datacenter=agent.config.datacenter, Token=token(request))
    roots = await agent.rpc("ConnectCA.Roots", req)
    config = await agent.rpc("ConnectCA.ConfigurationGet", req)
    leaf_ttl_ns = parse_ca_config(config.Config, validate=False).leaf_cert_ttl
    leaves = [HeldLeaf(entry.cert, entry.renew_at)
              for entry in agent.cache.values(agent.connect_leaf)]
    report = assess(datetime.datetime.now(datetime.UTC), roots.Roots or [],
                    datetime.timedelta(microseconds=leaf_ttl_ns // 1000), leaves)
    return json_reply(request, report)


def _meta(response: web.Response, meta: QueryMeta) -> web.Response:
    response.headers["X-Consul-Index"] = str(max(meta.Index, 1))
    return response


def add_routes(router: web.Router) -> None:
    router.add_get("/v1/connect/ca/roots", roots)
    router.add_get("/v1/connect/ca/configuration", configuration_get)
    router.add_put("/v1/connect/ca/configuration", configuration_set)
    router.add_get("/v1/agent/connect/ca/roots", agent_roots)
    router.add_get("/v1/agent/connect/ca/leaf/{service}", agent_leaf)
    router.add_get("/v1/connect/ca/health", ca_health)
