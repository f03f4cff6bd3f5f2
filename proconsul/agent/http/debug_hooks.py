"""Test-only endpoints, routed only when the agent runs with ``PROCONSUL_TEST_HOOKS=1``."""

from __future__ import annotations

import os

from proconsul.agent.http.reply import json_reply
from proconsul.lib import httpserver as web
from proconsul.structs.errors import NotFound

ENV_VAR = "PROCONSUL_TEST_HOOKS"


async def fail_routine(request: web.Request) -> web.Response:
    """Make a supervised routine's current run fail, as if it had raised."""
    name = request.match_info["name"]
    if not request.app["agent"].inject_routine_failure(name):
        raise NotFound(f"no running routine named {name!r}")
    return json_reply(request, True)


def add_routes(router: web.Router) -> None:
    if os.environ.get(ENV_VAR) == "1":
        router.add_put("/v1/proconsul/test-hooks/routine/{name:.+}/fail", fail_routine)
