"""``/v1/status``: Consul's ``api.Status``."""

from __future__ import annotations


class Status:
    def __init__(self, client) -> None:
        self.c = client

    def leader(self) -> str:
        return self.c.query("/v1/status/leader")[0]

    def peers(self) -> list[str]:
        return self.c.query("/v1/status/peers")[0]
