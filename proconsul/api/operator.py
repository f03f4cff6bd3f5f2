"""``/v1/operator``: keyring, raft and autopilot, as Consul's ``api.Operator``."""

from __future__ import annotations

from typing import Any

from proconsul.api.client import decode
from proconsul.api.options import QueryOptions, WriteOptions


class Operator:
    def __init__(self, client) -> None:
        self.c = client

    # keyring
    def keyring_list(self, q: QueryOptions | None = None) -> list[dict[str, Any]]:
        return self.c.query("/v1/operator/keyring", q)[0]

    def keyring_install(self, key: str, w: WriteOptions | None = None) -> None:
        self.c.write("POST", "/v1/operator/keyring", {"Key": key}, w)

    def keyring_use(self, key: str, w: WriteOptions | None = None) -> None:
        self.c.write("PUT", "/v1/operator/keyring", {"Key": key}, w)

    def keyring_remove(self, key: str, w: WriteOptions | None = None) -> None:
        self.c.write("DELETE", "/v1/operator/keyring", {"Key": key}, w)

    # raft
    def raft_get_configuration(self, q: QueryOptions | None = None) -> dict[str, Any]:
        return self.c.query("/v1/operator/raft/configuration", q)[0]

    def raft_remove_peer_by_address(self, address: str, w: WriteOptions | None = None) -> None:
        self.c.write("DELETE", "/v1/operator/raft/peer", w=w, params=[("address", address)])

    def raft_remove_peer_by_id(self, peer_id: str, w: WriteOptions | None = None) -> None:
        self.c.write("DELETE", "/v1/operator/raft/peer", w=w, params=[("id", peer_id)])

    def raft_leader_transfer(self, peer_id: str = "",
                             w: WriteOptions | None = None) -> dict[str, Any]:
        return self.c.write("POST", "/v1/operator/raft/transfer-leader", w=w,
                            params=[("id", peer_id)] if peer_id else [])[0]

    # autopilot
    def autopilot_get_configuration(self, q: QueryOptions | None = None) -> dict[str, Any]:
        return self.c.query("/v1/operator/autopilot/configuration", q)[0]

    def autopilot_set_configuration(self, conf: dict[str, Any],
                                    w: WriteOptions | None = None) -> None:
        self.c.write("PUT", "/v1/operator/autopilot/configuration", conf, w)

    def autopilot_cas_configuration(self, conf: dict[str, Any],
                                    w: WriteOptions | None = None) -> bool:
        result, _ = self.c.write("PUT", "/v1/operator/autopilot/configuration", conf, w,
                                 params=[("cas", str(conf.get("ModifyIndex", 0)))])
        return result is True

    def autopilot_server_health(self, q: QueryOptions | None = None) -> dict[str, Any]:
        """Cluster health; Consul answers 429 (with the same body) when unhealthy."""
        reply, _ = self.c.query_raw("/v1/operator/autopilot/health", q, ok=(200, 429))
        return decode(reply.body)

    def autopilot_state(self, q: QueryOptions | None = None) -> dict[str, Any]:
        return self.c.query("/v1/operator/autopilot/state", q)[0]

    def federation_status(self, q: QueryOptions | None = None) -> dict[str, Any]:
        """Beyond Consul: every datacenter as the answering server sees the WAN."""
        return self.c.query("/v1/operator/federation", q)[0]
