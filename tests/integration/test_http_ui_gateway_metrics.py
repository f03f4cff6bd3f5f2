"""``/v1/internal/ui/gateway-intentions/:gateway`` and ``/v1/internal/ui/metrics-proxy/*``
against real agents (and, for the proxy, a real metrics backend on a socket)."""

from __future__ import annotations

import json
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support.agent_process import free_port, start_agent, wait_until


def config_file(tree: dict) -> str:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(tree, f)
    return f.name


def test_gateway_intentions_are_those_to_the_services_it_fronts(agent, unique):
    gw, web, api = f"{unique}-gw", f"{unique}-web", f"{unique}-api"
    assert agent.put("/v1/config", {"Kind": "ingress-gateway", "Name": gw, "Listeners": [
        {"Port": 8080, "Protocol": "tcp", "Services": [{"Name": web}]},
        {"Port": 8081, "Protocol": "tcp", "Services": [{"Name": api}]}]}).status == 200
    for src, dst, action in ((f"{unique}-a", web, "allow"), ("*", api, "deny"),
                             (f"{unique}-x", "*", "allow"), (f"{unique}-b", f"{unique}-other",
                                                             "allow")):
        reply = agent.put(f"/v1/connect/intentions/exact?source={src}&destination={dst}",
                          {"Action": action})
        assert reply.status == 200, reply.text
    reply = agent.get(f"/v1/internal/ui/gateway-intentions/{gw}")
    assert reply.status == 200, reply.text
    got = [(i["SourceName"], i["DestinationName"], i["Action"]) for i in reply.json()]
    # per fronted service (by name), in precedence order; the wildcard destination once
    assert got == [("*", api, "deny"), (f"{unique}-x", "*", "allow"),
                   (f"{unique}-a", web, "allow")]
    assert int(reply.headers["X-Consul-Index"]) > 0
    assert agent.get(f"/v1/internal/ui/gateway-intentions/{unique}-none").json() == []
    missing = agent.get("/v1/internal/ui/gateway-intentions/")
    assert (missing.status, missing.text) == (400, "Missing gateway name")


class Backend:
    """A metrics backend that records what reaches it and answers JSON."""

    def __init__(self) -> None:
        self.seen: list[dict] = []
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                backend.seen.append({"path": self.path, "headers": dict(self.headers)})
                body = json.dumps({"status": "success", "data": {"result": []}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Backend", "prom")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def backend():
    backend = Backend()
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def proxied(backend):
    agent = start_agent("-config-file", config_file({"ui_config": {"metrics_proxy": {
        "base_url": f"http://127.0.0.1:{backend.port}/prom",
        "path_allowlist": ["/prom/api/v1/query", "/prom/api/v1/query_range"],
        "add_headers": [{"name": "Authorization", "value": "Bearer backend-secret"},
                        {"name": "X-Extra", "value": "1"}]}}}))
    try:
        wait_until(lambda: agent.get("/v1/status/leader").json(), what="a leader")
        yield agent
    finally:
        agent.stop()


def test_metrics_proxy_forwards_path_query_and_configured_headers(proxied, backend):
    backend.seen.clear()
    reply = proxied.get("/v1/internal/ui/metrics-proxy/api/v1/query?query=up&token=mine",
                        headers={"X-Consul-Token": "consul-secret"})
    assert reply.status == 200, reply.text
    assert reply.json() == {"status": "success", "data": {"result": []}}
    assert reply.headers["X-Backend"] == "prom"
    assert reply.headers["Content-Type"] == "application/json"
    [request] = backend.seen
    assert request["path"] == "/prom/api/v1/query?query=up&token=mine"
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert headers["authorization"] == "Bearer backend-secret"
    assert headers["x-extra"] == "1"
    assert "x-consul-token" not in headers


def test_metrics_proxy_refuses_paths_off_the_allowlist(proxied, backend):
    backend.seen.clear()
    for path in ("/api/v1/series", "/api/v1/../../admin", "/api/v1/query/../../../etc/passwd"):
        reply = proxied.get(f"/v1/internal/ui/metrics-proxy{path}")
        assert (reply.status, reply.body) == (403, b""), path
    assert backend.seen == []


def test_metrics_proxy_404_unless_configured_and_502_when_the_backend_is_down(agent):
    reply = agent.get("/v1/internal/ui/metrics-proxy/api/v1/query")
    assert (reply.status, reply.text) == (404, "Metrics proxy is not enabled")
    no_ui = start_agent("-config-file", config_file({"ui_config": {
        "enabled": False, "metrics_proxy": {"base_url": "http://127.0.0.1:9"}}}))
    try:
        reply = no_ui.get("/v1/internal/ui/metrics-proxy/api/v1/query")
        assert (reply.status, reply.text) == (404, "UI is not enabled")
    finally:
        no_ui.stop()
    closed = free_port("127.0.0.1")
    down = start_agent("-config-file", config_file({"ui_config": {"metrics_proxy": {
        "base_url": f"http://127.0.0.1:{closed}/prom"}}}))
    try:
        reply = down.get("/v1/internal/ui/metrics-proxy/api/v1/query")
        assert reply.status == 502
        assert reply.text.startswith(f"Metrics proxy: http://127.0.0.1:{closed}/prom/api/v1/"
                                     "query could not be reached: ")
        escape = down.get("/v1/internal/ui/metrics-proxy/../x")  # out of the base's path
        assert (escape.status, escape.text) == (400, "Invalid path.")
    finally:
        down.stop()
