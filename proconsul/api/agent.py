"""``/v1/agent``: Consul's ``api.Agent``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from proconsul.api.options import QueryMeta, QueryOptions

# serf.MemberStatus names, by the integer /v1/agent/members reports.
MEMBER_STATUS = {0: "none", 1: "alive", 2: "leaving", 3: "left", 4: "failed"}


class Agent:
    def __init__(self, client) -> None:
        self.c = client

    def self(self) -> dict[str, Any]:
        return self.c.query("/v1/agent/self")[0]

    def node_name(self) -> str:
        return self.self()["Config"]["NodeName"]

    def host(self) -> dict[str, Any]:
        return self.c.query("/v1/agent/host")[0]

    def version(self) -> dict[str, Any]:
        return self.c.query("/v1/agent/version")[0]

    def metrics(self) -> dict[str, Any]:
        return self.c.query("/v1/agent/metrics")[0]

    def reload(self) -> None:
        self.c.write("PUT", "/v1/agent/reload")

    def members(self, wan: bool = False, segment: str = "",
                filter: str = "") -> list[dict[str, Any]]:
        params = [("wan", "1")] if wan else []
        if segment:
            params.append(("segment", segment))
        if filter:
            params.append(("filter", filter))
        return self.c.query("/v1/agent/members", params=params)[0]

    def join(self, address: str, wan: bool = False) -> None:
        self.c.write("PUT", f"/v1/agent/join/{address}", params=[("wan", "1")] if wan else [])

    def leave(self) -> None:
        self.c.write("PUT", "/v1/agent/leave")

    def force_leave(self, node: str, prune: bool = False, wan: bool = False) -> None:
        params = ([("prune", "1")] if prune else []) + ([("wan", "1")] if wan else [])
        self.c.write("PUT", f"/v1/agent/force-leave/{node}", params=params)

    def enable_node_maintenance(self, reason: str = "") -> None:
        self.c.write("PUT", "/v1/agent/maintenance",
                     params=[("enable", "true"), ("reason", reason)] if reason
                     else [("enable", "true")])

    def disable_node_maintenance(self) -> None:
        self.c.write("PUT", "/v1/agent/maintenance", params=[("enable", "false")])

    def enable_service_maintenance(self, service_id: str, reason: str = "") -> None:
        params = [("enable", "true")] + ([("reason", reason)] if reason else [])
        self.c.write("PUT", f"/v1/agent/service/maintenance/{service_id}", params=params)

    def disable_service_maintenance(self, service_id: str) -> None:
        self.c.write("PUT", f"/v1/agent/service/maintenance/{service_id}",
                     params=[("enable", "false")])

    def services(self, filter: str = "") -> dict[str, dict]:
        return self.c.query("/v1/agent/services", QueryOptions(filter=filter))[0]

    def service(self, service_id: str,
                q: QueryOptions | None = None) -> tuple[dict, QueryMeta]:
        return self.c.query(f"/v1/agent/service/{service_id}", q)

    def service_register(self, registration: dict[str, Any],
                         replace_existing_checks: bool = False) -> None:
        params = [("replace-existing-checks", "true")] if replace_existing_checks else []
        self.c.write("PUT", "/v1/agent/service/register", registration, params=params)

    def service_deregister(self, service_id: str) -> None:
        self.c.write("PUT", f"/v1/agent/service/deregister/{service_id}")

    def checks(self, filter: str = "") -> dict[str, dict]:
        return self.c.query("/v1/agent/checks", QueryOptions(filter=filter))[0]

    def check_register(self, check: dict[str, Any]) -> None:
        self.c.write("PUT", "/v1/agent/check/register", check)

    def check_deregister(self, check_id: str) -> None:
        self.c.write("PUT", f"/v1/agent/check/deregister/{check_id}")

    def update_ttl(self, check_id: str, output: str, status: str) -> None:
        """Set a TTL check's status (``passing``, ``warning`` or ``critical``)."""
        self.c.write("PUT", f"/v1/agent/check/update/{check_id}",
                     {"Status": status, "Output": output})

    def monitor(self, log_level: str = "", log_json: bool = False) -> Iterator[str]:
        """The agent's log lines as they are written, until the agent ends the stream."""
        params = ([("loglevel", log_level)] if log_level else []) + (
            [("logjson", "")] if log_json else [])
        return self.c.stream("/v1/agent/monitor", params)
