"""/v1/agent/host, /v1/agent/version and /v1/agent/token/<type>."""

from __future__ import annotations

import asyncio

from proconsul import CONSUL_COMPAT_VERSION
from proconsul.agent import host_info
from proconsul.agent.http.agent_endpoint import BUILD_DATE
from proconsul.agent.http.reply import json_reply
from proconsul.lib import httpserver as web
from proconsul.structs.errors import ERR_ACL_DISABLED, Unauthorized


async def agent_host(request: web.Request) -> web.Response:
    return json_reply(request, await asyncio.to_thread(host_info.collect))


async def agent_version(request: web.Request) -> web.Response:
    return json_reply(request, {"SHA": "", "BuildDate": BUILD_DATE,
                                "HumanVersion": CONSUL_COMPAT_VERSION, "FIPS": ""})


async def agent_token(request: web.Request) -> web.Response:
    """Setting the agent's tokens; the ACL system is not there yet, so ACLs are disabled."""
    raise Unauthorized(ERR_ACL_DISABLED)


def add_routes(router: web.Router) -> None:
    router.add_get("/v1/agent/host", agent_host)
    router.add_get("/v1/agent/version", agent_version)
    router.add_put("/v1/agent/token/{type:.*}", agent_token)
