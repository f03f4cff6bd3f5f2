"""A small service mesh for interop tests: one agent, ``api`` and ``web`` apps, Envoy sidecars.

``web``'s sidecar has ``api`` as an upstream on ``web_upstream``; the test plays
web's app and sends its requests there. Sidecars carry a passing TTL check so
their endpoints are healthy as soon as they are registered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.support.agent_process import AgentProcess, free_port, start_agent, wait_until
from tests.support.envoy import AppServer, Envoy, EnvoyGroup, http_get

PASSING = [{"Name": "ok", "TTL": "24h", "Status": "passing"}]


@dataclass
class Mesh:
    agent: AgentProcess
    envoys: EnvoyGroup
    apps: list[AppServer] = field(default_factory=list)
    sidecar_ports: dict[str, int] = field(default_factory=dict)  # service ID -> public port
    proxies: dict[str, Envoy] = field(default_factory=dict)  # service ID -> its Envoy
    web_upstream: int = 0

    @property
    def host(self) -> str:
        return self.agent.host

    def get(self, path: str = "/") -> tuple[int, str]:
        return http_get(self.host, self.web_upstream, path)

    def register_app(self, service_id: str, name: str, upstreams: list[dict] | None = None,
                     meta: dict[str, str] | None = None, reply_as: str = "") -> None:
        app = AppServer(self.host, reply_as or service_id)
        self.apps.append(app)
        port = self.sidecar_ports[service_id] = free_port(self.host)
        proxy: dict[str, Any] = {"LocalServiceAddress": self.host}
        if upstreams:
            proxy["Upstreams"] = upstreams
        body = {"ID": service_id, "Name": name, "Port": app.port, "Address": self.host,
                "Meta": meta or {}, "Connect": {"SidecarService": {
                    "Port": port, "Address": self.host, "Checks": PASSING, "Proxy": proxy}}}
        reply = self.agent.put("/v1/agent/service/register", body)
        assert reply.status == 200, reply.text

    def start_sidecar(self, service_id: str) -> Envoy:
        envoy = self.envoys.start(self.agent, "-sidecar-for", service_id)
        self.proxies[service_id] = envoy
        return envoy

    def config_entry(self, entry: dict[str, Any]) -> None:
        reply = self.agent.put("/v1/config", entry)
        assert reply.status == 200 and reply.json() is True, reply.text

    def intention(self, source: str, destination: str, body: dict[str, Any]) -> None:
        reply = self.agent.put(f"/v1/connect/intentions/exact?source={source}"
                               f"&destination={destination}", body)
        assert reply.status == 200, reply.text

    def stop(self) -> None:
        self.envoys.stop_all()
        for app in self.apps:
            app.stop()
        self.agent.stop()


def start_mesh(protocol: str = "tcp", api_meta: dict[str, str] | None = None) -> Mesh:
    """``api`` (protocol ``protocol``) and ``web`` → api, each with an Envoy; traffic flows."""
    agent = start_agent()
    mesh = Mesh(agent, EnvoyGroup())
    try:
        wait_until(lambda: agent.get("/v1/connect/ca/roots").json().get("Roots"),
                   what="CA roots")
        if protocol != "tcp":
            mesh.config_entry({"Kind": "service-defaults", "Name": "api",
                               "Protocol": protocol})
        mesh.web_upstream = free_port(agent.host)
        mesh.register_app("api", "api", meta=api_meta)
        mesh.register_app("web", "web", upstreams=[{
            "DestinationName": "api", "LocalBindAddress": agent.host,
            "LocalBindPort": mesh.web_upstream}])
        mesh.start_sidecar("api")
        mesh.start_sidecar("web")
        wait_until(lambda: mesh.get()[0] == 200, 30, what="web -> api through Envoy")
    except BaseException:
        mesh.stop()
        raise
    return mesh
