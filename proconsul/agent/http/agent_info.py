"""/v1/agent/host and /v1/agent/version."""

from __future__ import annotations

import asyncio

from proconsul import CONSUL_COMPAT_VERSION
from proconsul.agent import host_info
from proconsul.agent.http.agent_endpoint import BUILD_DATE
from proconsul.agent.http.reply import json_reply
from proconsul.lib import httpserver as web


async def agent_host(request: web.Request) -> web.Response:
    return json_reply(request, await asyncio.to_thread(host_info.collect))


async def agent_version(request: web.Request) -> web.Response:
    return json_reply(request, {"SHA": "", "BuildDate": BUILD_DATE,
                                "HumanVersion": CONSUL_COMPAT_VERSION, "FIPS": ""})


def add_routes(router: web.Router) -> None:
    router.add_get("/v1/agent/host", agent_host)
    router.add_get("/v1/agent/version", agent_version)
