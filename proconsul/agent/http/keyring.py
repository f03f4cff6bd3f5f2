"""/v1/operator/keyring: list, install, use and remove gossip encryption keys."""

from __future__ import annotations

from proconsul.agent.http.decode import decode_json
from proconsul.agent.http.reply import json_reply
from proconsul.agent.keyring_ops import decode_key, keyring_operation, raise_on_errors
from proconsul.lib import httpserver as web
from proconsul.structs.base import Record

OPERATION_BY_METHOD = {"GET": "list-keys", "POST": "install-key", "PUT": "use-key",
                       "DELETE": "remove-key"}


class KeyRequestBody(Record):
    Key: str


async def keyring(request: web.Request) -> web.Response:
    agent = request.app["agent"]
    operation = OPERATION_BY_METHOD[request.method]
    key = None
    if operation != "list-keys":
        key = decode_key(decode_json(await request.read(), KeyRequestBody).Key)
    pools = agent.gossip.pools()[::-1]  # Consul answers WAN first
    reports = [await keyring_operation(pool, agent.config.datacenter, operation, key)
               for pool in pools]
    if operation == "list-keys":
        return json_reply(request, reports)
    raise_on_errors(reports)
    return web.Response(status=200)


def add_routes(router: web.Router) -> None:
    for method in OPERATION_BY_METHOD:
        router.add_route(method, "/v1/operator/keyring", keyring)
