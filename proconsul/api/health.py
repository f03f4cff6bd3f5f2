"""``/v1/health``: Consul's ``api.Health``."""

from __future__ import annotations

from proconsul.api.options import QueryMeta, QueryOptions

STATES = ("any", "passing", "warning", "critical")


class Health:
    def __init__(self, client) -> None:
        self.c = client

    def node(self, node: str, q: QueryOptions | None = None) -> tuple[list[dict], QueryMeta]:
        return self.c.query(f"/v1/health/node/{node}", q)

    def checks(self, service: str, q: QueryOptions | None = None) -> tuple[list[dict], QueryMeta]:
        return self.c.query(f"/v1/health/checks/{service}", q)

    def service(self, service: str, tags: list[str] | None = None, passing_only: bool = False,
                q: QueryOptions | None = None) -> tuple[list[dict], QueryMeta]:
        params = [("tag", t) for t in tags or []]
        if passing_only:
            params.append(("passing", "1"))
        return self.c.query(f"/v1/health/service/{service}", q, params)

    def connect(self, service: str, passing_only: bool = False,
                q: QueryOptions | None = None) -> tuple[list[dict], QueryMeta]:
        """Connect-capable instances of ``service`` with their checks."""
        params = [("passing", "1")] if passing_only else []
        return self.c.query(f"/v1/health/connect/{service}", q, params)

    def ingress(self, service: str, passing_only: bool = False,
                q: QueryOptions | None = None) -> tuple[list[dict], QueryMeta]:
        """The ingress gateways exposing ``service``, with their checks."""
        params = [("passing", "1")] if passing_only else []
        return self.c.query(f"/v1/health/ingress/{service}", q, params)

    def state(self, state: str, q: QueryOptions | None = None) -> tuple[list[dict], QueryMeta]:
        if state not in STATES:
            raise ValueError(f"Unsupported state: {state}")
        return self.c.query(f"/v1/health/state/{state}", q)
