"""``/v1/catalog``: Consul's ``api.Catalog``."""

from __future__ import annotations

from typing import Any

from proconsul.api.options import QueryMeta, QueryOptions, WriteMeta, WriteOptions


class Catalog:
    def __init__(self, client) -> None:
        self.c = client

    def datacenters(self) -> list[str]:
        return self.c.query("/v1/catalog/datacenters")[0]

    def nodes(self, q: QueryOptions | None = None) -> tuple[list[dict], QueryMeta]:
        return self.c.query("/v1/catalog/nodes", q)

    def services(self, q: QueryOptions | None = None) -> tuple[dict[str, list[str]], QueryMeta]:
        return self.c.query("/v1/catalog/services", q)

    def service(self, service: str, tags: list[str] | None = None,
                q: QueryOptions | None = None) -> tuple[list[dict], QueryMeta]:
        return self.c.query(f"/v1/catalog/service/{service}", q,
                            [("tag", t) for t in tags or []])

    def node(self, node: str, q: QueryOptions | None = None) -> tuple[dict | None, QueryMeta]:
        return self.c.query(f"/v1/catalog/node/{node}", q)

    def node_service_list(self, node: str,
                          q: QueryOptions | None = None) -> tuple[dict | None, QueryMeta]:
        return self.c.query(f"/v1/catalog/node-services/{node}", q)

    def connect(self, service: str,
                q: QueryOptions | None = None) -> tuple[list[dict], QueryMeta]:
        """Connect-capable instances of ``service`` (its proxies and native instances)."""
        return self.c.query(f"/v1/catalog/connect/{service}", q)

    def gateway_services(self, gateway: str,
                         q: QueryOptions | None = None) -> tuple[list[dict], QueryMeta]:
        return self.c.query(f"/v1/catalog/gateway-services/{gateway}", q)

    def register(self, registration: dict[str, Any], w: WriteOptions | None = None) -> WriteMeta:
        return self.c.write("PUT", "/v1/catalog/register", registration, w)[1]

    def deregister(self, deregistration: dict[str, Any],
                   w: WriteOptions | None = None) -> WriteMeta:
        return self.c.write("PUT", "/v1/catalog/deregister", deregistration, w)[1]
