"""``/v1/peering`` and ``/v1/peerings``: Consul's ``api.Peerings`` (peerings as the
JSON objects of api.Peering)."""

from __future__ import annotations

from typing import Any

from proconsul.api.client import decode
from proconsul.api.errors import ClientError
from proconsul.api.options import QueryMeta, QueryOptions, WriteMeta, WriteOptions


class Peerings:
    def __init__(self, client) -> None:
        self.c = client

    def read(self, name: str, q: QueryOptions | None = None
             ) -> tuple[dict[str, Any] | None, QueryMeta]:
        """The peering ``name`` (None when there is none)."""
        if not name:
            raise ClientError("peering name cannot be empty")
        reply, meta = self.c.query_raw(f"/v1/peering/{name}", q, ok=(200, 404))
        return (decode(reply.body) if reply.status == 200 else None), meta

    def list(self, q: QueryOptions | None = None) -> tuple[list[dict[str, Any]], QueryMeta]:
        peerings, meta = self.c.query("/v1/peerings", q)
        return peerings or [], meta

    def generate_token(self, request: dict[str, Any], w: WriteOptions | None = None
                       ) -> tuple[dict[str, Any], WriteMeta]:
        """``{"PeeringToken": ...}`` for a PeeringGenerateTokenRequest (PeerName, Partition,
        Meta, ServerExternalAddresses)."""
        if not request.get("PeerName"):
            raise ClientError("peer name cannot be empty")
        return self.c.write("POST", "/v1/peering/token", request, w)

    def establish(self, request: dict[str, Any], w: WriteOptions | None = None
                  ) -> tuple[dict[str, Any], WriteMeta]:
        """Establish from a PeeringEstablishRequest (PeerName, PeeringToken, Partition, Meta)."""
        return self.c.write("POST", "/v1/peering/establish", request, w)

    def delete(self, name: str, w: WriteOptions | None = None) -> WriteMeta:
        if not name:
            raise ClientError("peering name cannot be empty")
        return self.c.write("DELETE", f"/v1/peering/{name}", w=w)[1]
