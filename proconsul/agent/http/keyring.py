"""/v1/operator/keyring: list, install, use and remove gossip encryption keys, over the
WAN pool and every datacenter's LAN pool (through the servers' Internal.KeyringOperation,
as Consul's agent does)."""

from __future__ import annotations

from proconsul.agent.http.decode import decode_json
from proconsul.agent.http.params import flag, token, uint
from proconsul.agent.http.reply import json_reply
from proconsul.agent.keyring_ops import decode_key, raise_on_errors
from proconsul.lib import httpserver as web
from proconsul.structs.base import Record
from proconsul.structs.errors import BadRequest
from proconsul.structs.keyring import (
    KEYRING_INSTALL,
    KEYRING_LIST,
    KEYRING_REMOVE,
    KEYRING_USE,
    KeyringRequest,
)

OPERATION_BY_METHOD = {"GET": KEYRING_LIST, "POST": KEYRING_INSTALL, "PUT": KEYRING_USE,
                       "DELETE": KEYRING_REMOVE}
MAX_RELAY_FACTOR = 5


class KeyRequestBody(Record):
    Key: str


async def keyring(request: web.Request) -> web.Response:
    agent = request.app["agent"]
    operation = OPERATION_BY_METHOD[request.method]
    key = ""
    if operation != KEYRING_LIST:
        key = decode_json(await request.read(), KeyRequestBody).Key
        decode_key(key)  # a bad key is the client's error (400), before any RPC
    relay = uint(request.query, "relay-factor", "Error parsing relay factor") or 0
    if relay > MAX_RELAY_FACTOR:
        raise BadRequest(f"Invalid relay-factor: Relay factor must be in range: "
                         f"[0, {MAX_RELAY_FACTOR}]")
    local_only = flag(request.query, "local-only")
    if local_only and operation != KEYRING_LIST:
        raise BadRequest("Invalid use of local-only: local-only can only be set for list "
                         "requests")
    reply = await agent.rpc("Internal.KeyringOperation", KeyringRequest(
        Operation=operation, Key=key, RelayFactor=relay, LocalOnly=local_only,
        Token=token(request)))
    responses = reply.Responses or []
    if operation == KEYRING_LIST:
        return json_reply(request, responses)
    raise_on_errors(responses)
    return web.Response(status=200)


def add_routes(router: web.Router) -> None:
    for method in OPERATION_BY_METHOD:
        router.add_route(method, "/v1/operator/keyring", keyring)
