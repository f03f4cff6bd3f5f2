"""A stand-in Consul KV server (aiohttp, in memory) for testing the bench harness.

Not Proconsul: just enough of the API for kv_bench.py's Consul side --
GET /v1/status/leader, PUT/GET/DELETE /v1/kv/<key> (?stale accepted).

    python bench/kv_bench.py --quick \\
        --proconsul-cmd "python bench/fake_consul.py --port {http_port}"
"""

from __future__ import annotations

import argparse
import base64
import json

from aiohttp import web

STORE: dict[str, tuple[bytes, int, int]] = {}  # key -> (value, create index, modify index)
INDEX = [1]


async def leader(_req: web.Request) -> web.Response:
    return web.json_response("127.0.0.1:8300")


async def kv_put(req: web.Request) -> web.Response:
    key = req.match_info["key"]
    INDEX[0] += 1
    create = STORE[key][1] if key in STORE else INDEX[0]
    STORE[key] = (await req.read(), create, INDEX[0])
    return web.json_response(True)


async def kv_get(req: web.Request) -> web.Response:
    key = req.match_info["key"]
    hdrs = {"X-Consul-Index": str(INDEX[0]), "X-Consul-KnownLeader": "true"}
    if key not in STORE:
        return web.Response(status=404, headers=hdrs)
    value, create, modify = STORE[key]
    body = [{"LockIndex": 0, "Key": key, "Flags": 0,
             "Value": base64.b64encode(value).decode() if value else None,
             "CreateIndex": create, "ModifyIndex": modify}]
    return web.Response(text=json.dumps(body), content_type="application/json", headers=hdrs)


async def kv_delete(req: web.Request) -> web.Response:
    STORE.pop(req.match_info["key"], None)
    return web.json_response(True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=8500)
    p.add_argument("--host", default="127.0.0.1")
    a = p.parse_args()
    app = web.Application()
    app.router.add_get("/v1/status/leader", leader)
    app.router.add_put("/v1/kv/{key:.+}", kv_put)
    app.router.add_get("/v1/kv/{key:.+}", kv_get)
    app.router.add_delete("/v1/kv/{key:.+}", kv_delete)
    web.run_app(app, host=a.host, port=a.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
