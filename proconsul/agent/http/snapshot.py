"""/v1/snapshot: GET streams an archive of the servers' state, PUT restores one.

The archive never sits in memory: a save is spooled to a temporary file on
the server and streamed out from it; a restore's body is spooled to a file
by the HTTP server as it arrives (see :func:`spool_upload`) and checked whole
before anything changes. Both run on the leader unless a save says ``?stale``.
"""

from __future__ import annotations

import tempfile
from typing import BinaryIO

from proconsul.agent.http.params import datacenter, set_meta, token
from proconsul.lib import httpserver as web
from proconsul.structs.errors import BadRequest
from proconsul.structs.snapshot import SNAPSHOT_RESTORE, SNAPSHOT_SAVE, SnapshotRequest

PATH = "/v1/snapshot"
CHUNK = 1 << 20


def spool_upload(spool_dir: str | None):
    """The HTTP server's ``body_spool``: a ``PUT /v1/snapshot`` body goes to a temporary
    file in ``spool_dir`` instead of memory, and is not capped."""
    def spool(method: str, target: bytes) -> BinaryIO | None:
        if method == "PUT" and target.split(b"?", 1)[0] == PATH.encode():
            return tempfile.TemporaryFile(dir=spool_dir)  # noqa: SIM115 - closed by the server
        return None
    return spool


def _request(request: web.Request, op: int) -> SnapshotRequest:
    # The token travels to the server, where Snapshots.authorize (the ACL hook) checks it.
    return SnapshotRequest(Datacenter=datacenter(request), Token=token(request),
                           AllowStale="stale" in request.query, Op=op)


async def save(request: web.Request) -> web.StreamResponse:
    agent = request.app["agent"]
    response_meta, archive = await agent.snapshot(_request(request, SNAPSHOT_SAVE), None)
    try:
        # Go's server sniffs the gzip magic into this type; Consul sets none itself.
        response = web.StreamResponse(headers={"Content-Type": "application/x-gzip"})
        set_meta(response, response_meta)
        await response.prepare(request)
        while chunk := archive.read(CHUNK):
            await response.write(chunk)
        await response.write_eof()
        return response
    finally:
        archive.close()


async def restore(request: web.Request) -> web.Response:
    upload = request.body_file
    if upload is None:  # the body was not spooled (it cannot be: the route is the spool's)
        raise BadRequest("snapshot restore needs a request body")
    agent = request.app["agent"]
    await agent.snapshot(_request(request, SNAPSHOT_RESTORE), upload)
    return web.Response(status=200)


def add_routes(router: web.Router) -> None:
    router.add_get(PATH, save, allow_head=False)  # HEAD would take a whole snapshot
    router.add_put(PATH, restore)
