"""``/v1/connect/ca``: the CA roots and configuration, as Consul's ``api.Connect``."""

from __future__ import annotations

from typing import Any

from proconsul.api.options import QueryOptions, WriteOptions


class Connect:
    def __init__(self, client) -> None:
        self.c = client

    def ca_roots(self, q: QueryOptions | None = None) -> dict[str, Any]:
        return self.c.query("/v1/connect/ca/roots", q)[0]

    def ca_get_config(self, q: QueryOptions | None = None) -> dict[str, Any]:
        return self.c.query("/v1/connect/ca/configuration", q)[0]

    def ca_set_config(self, conf: dict[str, Any], w: WriteOptions | None = None) -> None:
        self.c.write("PUT", "/v1/connect/ca/configuration", conf, w)

    def ca_health(self, q: QueryOptions | None = None) -> dict[str, Any]:
        """Beyond Consul: expiry of the roots, intermediates and this agent's leaves."""
        return self.c.query("/v1/connect/ca/health", q)[0]
