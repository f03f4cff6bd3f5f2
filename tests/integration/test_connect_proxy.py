"""The built-in proxy (``proconsul connect proxy``) carrying web → api over mTLS between
real agent, proxy and application processes: intentions, rotation, failover, errors."""

from __future__ import annotations

import http.client
import http.server
import json
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.request

import pytest

from tests.support.agent_process import free_port, start_agent, wait_until
from tests.support.certs import write_test_pki
from tests.support.cli_process import run_cli, start_cli


class App:
    """A tiny HTTP server answering ``<name> <path>``; ``/call`` asks ``upstream`` first."""

    def __init__(self, host: str, name: str, upstream: tuple[str, int] | None = None) -> None:
        self.name = name
        app = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                body, status = f"{app.name} {self.path}".encode(), 200
                if self.path == "/call" and upstream is not None:
                    try:
                        with urllib.request.urlopen(
                                f"http://{upstream[0]}:{upstream[1]}/from-web",
                                timeout=10) as reply:
                            body = f"{app.name} got: ".encode() + reply.read()
                    except (OSError, http.client.HTTPException) as err:
                        body, status = f"{app.name} failed: {err}".encode(), 502
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer((host, free_port(host)), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class ProxyProcess:
    """A running ``proconsul connect proxy``; its output lines are collected."""

    def __init__(self, agent, *args: str) -> None:
        self.process = start_cli(agent, "connect", "proxy", *args)
        self.lines: list[str] = []
        self.errors: list[str] = []
        threading.Thread(target=self._drain, args=(self.process.stdout, self.lines),
                         daemon=True).start()
        threading.Thread(target=self._drain, args=(self.process.stderr, self.errors),
                         daemon=True).start()

    @staticmethod
    def _drain(stream, into: list[str]) -> None:
        for line in stream:
            into.append(line.decode(errors="replace"))

    def logged(self, *parts: str) -> int:
        """How many log lines contain every one of ``parts``."""
        return sum(all(part in line for part in parts) for line in self.lines)

    def wait_logged(self, *parts: str, count: int = 1, timeout: float = 60) -> None:
        try:
            wait_until(lambda: self.logged(*parts) >= count, timeout, what=repr(parts))
        except AssertionError as err:  # the log as it is when the wait gave up
            raise AssertionError(f"{err} in the proxy log (exit {self.process.poll()}):\n"
                                 f"{''.join(self.lines + self.errors)}") from None

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def get(host: str, port: int, path: str = "/", timeout: float = 5) -> tuple[int, str]:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        reply = conn.getresponse()
        return reply.status, reply.read().decode()
    finally:
        conn.close()


def try_get(host: str, port: int, path: str = "/") -> str | None:
    """The body, or None when the request fails (refused, reset, closed)."""
    try:
        status, body = get(host, port, path)
    except (OSError, http.client.HTTPException):
        return None
    return body if status == 200 else None


def register_proxy(agent, proxy_id: str, service: str, host: str, port: int, app_port: int,
                   upstreams: list[dict] | None = None, check: dict | None = None,
                   config: dict | None = None) -> None:
    body = {"Kind": "connect-proxy", "ID": proxy_id, "Name": f"{service}-sidecar-proxy",
            "Address": host, "Port": port,
            "Proxy": {"DestinationServiceName": service, "DestinationServiceID": service,
                      "LocalServiceAddress": host, "LocalServicePort": app_port,
                      "Upstreams": upstreams or [], "Config": config or {}}}
    if check is not None:
        body["Check"] = check
    reply = agent.put("/v1/agent/service/register", body)
    assert reply.status == 200, reply.text


def set_intention(agent, source: str, destination: str, action: str) -> None:
    reply = agent.put(f"/v1/connect/intentions/exact?source={source}&destination={destination}",
                      {"Action": action})
    assert reply.status == 200, reply.text


@pytest.fixture(scope="module")
def mesh():
    """An agent, api and web apps each behind a built-in proxy (web has api upstream)."""
    agent = start_agent()
    host = agent.host
    apps: list[App] = []
    proxies: list[ProxyProcess] = []
    statsd = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    statsd.bind((host, 0))
    try:
        wait_until(lambda: agent.get("/v1/connect/ca/roots").json().get("Roots"), what="roots")
        upstream = (host, free_port(host))
        api = App(host, "api")
        web = App(host, "web", upstream)
        apps += [api, web]
        for name, app in (("api", api), ("web", web)):
            assert agent.put("/v1/agent/service/register", {
                "Name": name, "Address": host, "Port": app.port}).status == 200
        api_public, web_public = free_port(host), free_port(host)
        register_proxy(agent, "api-sidecar-proxy", "api", host, api_public, api.port,
                       config={"telemetry": {
                           "statsd_address": f"{host}:{statsd.getsockname()[1]}",
                           "disable_hostname": True}})
        register_proxy(agent, "web-sidecar-proxy", "web", host, web_public, web.port,
                       [{"DestinationName": "api", "LocalBindAddress": host,
                         "LocalBindPort": upstream[1]}])
        proxies.append(ProxyProcess(agent, "-sidecar-for", "api"))
        proxies.append(ProxyProcess(agent, "-sidecar-for", "web"))
        try:
            wait_until(lambda: try_get(host, web.port, "/call"), 30, what="web → api")
        except AssertionError as err:
            logs = "".join(line for p in proxies for line in p.lines + p.errors)
            raise AssertionError(logs) from err
        yield {"agent": agent, "host": host, "api": api, "web": web, "upstream": upstream,
               "api_public": api_public, "web_public": web_public,
               "api_proxy": proxies[0], "web_proxy": proxies[1],
               "statsd": statsd}
    finally:
        statsd.close()
        for proxy in proxies:
            proxy.stop()
        for app in apps:
            app.close()
        agent.stop()


def test_web_reaches_api_through_two_proxies(mesh):
    host, web = mesh["host"], mesh["web"]
    assert get(host, web.port, "/call") == (200, "web got: api /from-web")
    assert get(*mesh["upstream"], "/direct") == (200, "api /direct")
    api_proxy, web_proxy = mesh["api_proxy"], mesh["web_proxy"]
    assert api_proxy.logged("inbound connection from") and api_proxy.logged("(web) accepted")
    assert web_proxy.logged("upstream connection from")
    assert "Sidecar for ID: web" in "".join(web_proxy.lines)
    assert "Proxy ID: web-sidecar-proxy" in "".join(web_proxy.lines)


def test_connections_are_counted_in_the_proxys_statsd_metrics(mesh):
    statsd = mesh["statsd"]
    assert get(*mesh["upstream"], "/counted") == (200, "api /counted")
    wanted = {"consul.proxy.api.inbound.accepted:1", "consul.proxy.api.inbound.rx_bytes:",
              "consul.proxy.api.inbound.conns:"}
    seen: set[str] = set()
    statsd.settimeout(5)
    while not all(any(line.startswith(w) for line in seen) for w in wanted):
        try:
            seen.update(statsd.recv(65536).decode().splitlines())
        except TimeoutError:
            raise AssertionError(f"statsd lines missing; got {sorted(seen)}") from None


def test_public_port_refuses_clients_without_a_valid_leaf(mesh, tmp_path):
    host, port = mesh["host"], mesh["api_public"]
    with socket.create_connection((host, port), timeout=5) as plain:
        plain.sendall(b"GET / HTTP/1.1\r\nHost: api\r\n\r\n")
        assert not _read_some(plain)
    no_cert = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    no_cert.check_hostname, no_cert.verify_mode = False, ssl.CERT_NONE
    write_test_pki(tmp_path, "web")
    foreign = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    foreign.check_hostname, foreign.verify_mode = False, ssl.CERT_NONE
    foreign.load_cert_chain(str(tmp_path / "client.pem"))
    for context in (no_cert, foreign):
        with socket.create_connection((host, port), timeout=5) as raw:
            try:
                with context.wrap_socket(raw) as tls:
                    tls.sendall(b"GET / HTTP/1.1\r\nHost: api\r\n\r\n")
                    assert not _read_some(tls)
            except (ssl.SSLError, ConnectionError):
                pass  # refused during the handshake: what a TLS 1.2 client sees
    assert get(*mesh["upstream"], "/still-fine") == (200, "api /still-fine")


def _read_some(sock) -> bytes:
    """What the server sends before it closes (b"" when it just closes)."""
    try:
        return sock.recv(1024)
    except (ssl.SSLError, ConnectionError):
        return b""


def test_deny_intention_stops_new_connections_within_2s_and_allow_restores(mesh):
    agent, upstream = mesh["agent"], mesh["upstream"]
    established = http.client.HTTPConnection(*upstream, timeout=5)
    try:
        established.request("GET", "/before")
        assert established.getresponse().read() == b"api /before"
        set_intention(agent, "web", "api", "deny")
        started = time.monotonic()
        wait_until(lambda: try_get(*upstream) is None, 5, what="deny to take effect")
        assert time.monotonic() - started < 2.0
        mesh["api_proxy"].wait_logged("denied: Matched L4 intention: default/web => "
                                      "default/api (Precedence: 9, Action: DENY)")
        # As in Consul, intentions are checked when a connection is made.
        established.request("GET", "/during")
        assert established.getresponse().read() == b"api /during"
        set_intention(agent, "web", "api", "allow")
        started = time.monotonic()
        wait_until(lambda: try_get(*upstream), 5, what="allow to take effect")
        assert time.monotonic() - started < 2.0
    finally:
        established.close()
        agent.delete("/v1/connect/intentions/exact?source=web&destination=api")


def test_ca_root_rotation_keeps_traffic_flowing(mesh):
    agent, upstream = mesh["agent"], mesh["upstream"]
    api_proxy, web_proxy = mesh["api_proxy"], mesh["web_proxy"]
    leaves = [p.logged("TLS updated: leaf certificate") for p in (api_proxy, web_proxy)]
    established = http.client.HTTPConnection(*upstream, timeout=5)
    try:
        established.request("GET", "/before")
        assert established.getresponse().read() == b"api /before"
        old_root = agent.get("/v1/connect/ca/roots").json()["ActiveRootID"]
        reply = agent.put("/v1/connect/ca/configuration", {
            "Provider": "consul", "Config": {"PrivateKeyType": "rsa", "PrivateKeyBits": 2048}})
        assert reply.status == 200, reply.text
        assert agent.get("/v1/connect/ca/roots").json()["ActiveRootID"] != old_root
        failures, requests = [], 0
        deadline = time.monotonic() + 20
        while any(p.logged("TLS updated: leaf certificate") <= n
                  for p, n in zip((api_proxy, web_proxy), leaves, strict=True)):
            assert time.monotonic() < deadline, "the proxies did not get new leaves"
            requests += 1
            if try_get(*upstream, "/during") != "api /during":
                failures.append(requests)
        for path in ("/after-1", "/after-2", "/after-3"):
            assert get(*upstream, path) == (200, f"api {path}")
        assert failures == [], f"{len(failures)} of {requests} requests failed"
        established.request("GET", "/still")
        assert established.getresponse().read() == b"api /still"
    finally:
        established.close()


def test_upstream_instance_going_critical_is_dropped(mesh):
    agent, host, upstream = mesh["agent"], mesh["host"], mesh["upstream"]
    second = App(host, "api2")
    public = free_port(host)
    register_proxy(agent, "api-sidecar-proxy-2", "api", host, public, second.port,
                   check={"CheckID": "api2-alive", "TTL": "600s", "Status": "passing"})
    proxy = ProxyProcess(agent, "-proxy-id", "api-sidecar-proxy-2")
    try:
        seen: set[str] = set()

        def both_answer() -> bool:
            body = try_get(*upstream, "/lb")
            if body:
                seen.add(body)
            return seen >= {"api /lb", "api2 /lb"}
        wait_until(both_answer, 20, what="both api instances to answer")
        only_api = f"1 instance(s): {host}:{mesh['api_public']}"
        before = mesh["web_proxy"].logged(only_api)
        assert agent.put("/v1/agent/check/fail/api2-alive").status == 200
        mesh["web_proxy"].wait_logged(only_api, count=before + 1)
        assert {get(*upstream, "/after")[1] for _ in range(10)} == {"api /after"}
    finally:
        proxy.stop()
        agent.put("/v1/agent/service/deregister/api-sidecar-proxy-2")
        second.close()


def test_an_instance_with_the_wrong_identity_is_skipped_for_the_next(mesh):
    """A registration claiming to front api, at a port that presents web's leaf: the
    certificate check refuses it and the connection goes to the real api instead."""
    agent, host, upstream = mesh["agent"], mesh["host"], mesh["upstream"]
    register_proxy(agent, "api-impostor", "api", host, mesh["web_public"], 1)
    try:
        mesh["web_proxy"].wait_logged("2 instance(s):", f"{host}:{mesh['web_public']}")
        assert {get(*upstream, "/who")[1] for _ in range(6)} == {"api /who"}
        mesh["web_proxy"].wait_logged("refused: peer certificate is for spiffe://")
    finally:
        agent.put("/v1/agent/service/deregister/api-impostor")


def test_changed_listener_ports_rebind_without_dropping_connections(mesh):
    agent, host, upstream = mesh["agent"], mesh["host"], mesh["upstream"]
    web, public = mesh["web"], mesh["web_public"]
    moved, moved_public = free_port(host), free_port(host)
    established = http.client.HTTPConnection(*upstream, timeout=5)
    try:
        established.request("GET", "/before")
        assert established.getresponse().read() == b"api /before"
        register_proxy(agent, "web-sidecar-proxy", "web", host, moved_public, web.port,
                       [{"DestinationName": "api", "LocalBindAddress": host,
                         "LocalBindPort": moved}])
        wait_until(lambda: try_get(host, moved, "/moved"), 10, what="the new upstream port")
        for old in (upstream, (host, public)):
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(old, timeout=5).close()
        socket.create_connection((host, moved_public), timeout=5).close()
        established.request("GET", "/still")
        assert established.getresponse().read() == b"api /still"
    finally:
        established.close()
        register_proxy(agent, "web-sidecar-proxy", "web", host, public, web.port,
                       [{"DestinationName": "api", "LocalBindAddress": host,
                         "LocalBindPort": upstream[1]}])
        wait_until(lambda: try_get(*upstream), 10, what="the upstream back on its port")
        wait_until(lambda: _listens(host, public), 10, what="the public port back")


def _listens(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError:
        return False
    return True


def test_dev_mode_registers_serves_and_deregisters_on_sigterm(mesh):
    agent, host = mesh["agent"], mesh["host"]
    app = App(host, "dev")
    listen, upstream = free_port(host), free_port(host)
    proxy = ProxyProcess(agent, "-service", "dev", "-listen", f"{host}:{listen}",
                         "-service-addr", f"{host}:{app.port}", "-register",
                         "-upstream", f"api:{host}:{upstream}")
    try:
        wait_until(lambda: agent.get("/v1/agent/service/dev-proxy").status == 200, 20,
                   what="the dev proxy's registration")
        registered = agent.get("/v1/agent/service/dev-proxy").json()
        assert (registered["Kind"], registered["Port"]) == ("connect-proxy", listen)
        assert registered["Proxy"]["DestinationServiceName"] == "dev"
        wait_until(lambda: try_get(host, upstream, "/from-dev"), 20, what="dev → api")
        assert get(host, upstream, "/from-dev") == (200, "api /from-dev")
        assert "Configuration mode: Flags" in "".join(proxy.lines)
    finally:
        code = proxy.stop()
        app.close()
    assert code == 0, "".join(proxy.errors)
    assert "Consul Connect proxy shutdown" in "".join(proxy.lines)
    assert agent.get("/v1/agent/service/dev-proxy").status == 404


@pytest.mark.parametrize(("args", "message"), [
    (["-sidecar-for", "nosuch"], "No sidecar proxy registered for nosuch"),
    (["-proxy-id", "nosuch"], "Cannot read proxy nosuch from the local agent"),
    (["-proxy-id", "api"], "Service api is not a connect-proxy"),
    ([], "-service or -proxy-id must be specified"),
    (["-service", "x", "-upstream", "api"], "Upstream value should be name:addr"),
    (["-service", "x", "-upstream", "api.db:1234"], "Upstream type must be blank"),
    (["-service", "x", "-listen", "127.0.0.1:1"], "-service-addr must be specified"),
    (["-service", "x", "-register"], "-register may only be specified with -service and"),
    (["-log-level", "loud", "-service", "x"], "Invalid log level: loud"),
    (["-service", "x", "extra"], "Should have no non-flag arguments."),
    (["-nosuch"], "flag provided but not defined: -nosuch"),
])
def test_bad_flags_and_missing_sidecars_give_clear_errors(mesh, args, message):
    result = run_cli(mesh["agent"], "connect", "proxy", *args)
    assert result.returncode == 1
    assert message in result.stderr.decode(), result.stderr.decode()
    assert "Traceback" not in result.stderr.decode()


def test_two_sidecars_for_one_service_name_the_candidates(mesh):
    agent, host = mesh["agent"], mesh["host"]
    for proxy_id in ("twin-proxy-a", "twin-proxy-b"):
        register_proxy(agent, proxy_id, "twin", host, free_port(host), 1)
    try:
        result = run_cli(agent, "connect", "proxy", "-sidecar-for", "twin")
        assert result.returncode == 1
        assert ("More than one sidecar proxy registered for twin.\n    Start proxy with "
                "-proxy-id and one of the following IDs: twin-proxy-a, twin-proxy-b"
                ) in result.stderr.decode()
    finally:
        for proxy_id in ("twin-proxy-a", "twin-proxy-b"):
            agent.put(f"/v1/agent/service/deregister/{proxy_id}")


def test_sidecar_service_registration_and_prepared_query_upstreams(mesh):
    """Consul's usual setup: ``connect { sidecar_service {} }`` (with its default checks)
    and ``-sidecar-for``; a dev-mode client reaches it by service and by prepared query."""
    agent, host = mesh["agent"], mesh["host"]
    app = App(host, "shop")
    sidecar_port, by_name, by_query = free_port(host), free_port(host), free_port(host)
    assert agent.put("/v1/agent/service/register", {
        "Name": "shop", "Address": host, "Port": app.port,
        "Connect": {"SidecarService": {"Address": host, "Port": sidecar_port, "Proxy": {
            "LocalServiceAddress": host}}}}).status == 200
    query = agent.call("POST", "/v1/query", {"Name": "shopq", "Service": {"Service": "shop"}})
    assert query.status == 200, query.text
    shop_proxy = ProxyProcess(agent, "-sidecar-for", "shop")
    client = ProxyProcess(agent, "-service", "shopper", "-upstream", f"shop:{host}:{by_name}",
                          "-upstream", f"shopq.query:{host}:{by_query}")
    try:
        # the sidecar's default TCP check passes once the proxy listens (interval 10 s)
        wait_until(lambda: try_get(host, by_name, "/by-name"), 40, what="shopper → shop")
        assert get(host, by_name, "/by-name") == (200, "shop /by-name")
        wait_until(lambda: try_get(host, by_query, "/by-query"), 30, what="the query upstream")
        assert get(host, by_query, "/by-query") == (200, "shop /by-query")
        assert "Proxy ID: shop-sidecar-proxy" in "".join(shop_proxy.lines)
    finally:
        client.stop()
        shop_proxy.stop()
        agent.call("DELETE", f"/v1/query/{query.json()['ID']}")
        agent.put("/v1/agent/service/deregister/shop")
        app.close()


ROOT = "proxy-acl-root-secret"


def test_acls_default_deny_tokens_and_intentions(tmp_path):
    """With ACLs on (default deny) each proxy runs on its service-identity token
    (-token, -token-file); web → api is denied until an intention allows it."""
    config = tmp_path / "acl.json"
    config.write_text(json.dumps({"acl": {"enabled": True, "default_policy": "deny",
                                          "tokens": {"initial_management": ROOT,
                                                     "agent": ROOT}}}))
    agent = start_agent("-config-file", str(config))
    root = {"X-Consul-Token": ROOT}
    host = agent.host
    api, proxies = App(host, "api"), []
    upstream = (host, free_port(host))
    try:
        wait_until(lambda: agent.get("/v1/connect/ca/roots", headers=root).json().get("Roots"),
                   what="roots")
        secrets = {}
        for name in ("api", "web"):
            reply = agent.put("/v1/acl/token", {"ServiceIdentities": [{"ServiceName": name}]},
                              headers=root)
            assert reply.status == 200, reply.text
            secrets[name] = reply.json()["SecretID"]
        for body in ({"Name": "api", "Address": host, "Port": api.port},
                     {"Name": "web", "Address": host, "Port": 1}):
            assert agent.put("/v1/agent/service/register", body, headers=root).status == 200
        for proxy_id, service, app_port, upstreams in (
                ("api-sidecar-proxy", "api", api.port, []),
                ("web-sidecar-proxy", "web", 1, [{"DestinationName": "api",
                                                  "LocalBindAddress": host,
                                                  "LocalBindPort": upstream[1]}])):
            reply = agent.put("/v1/agent/service/register", {
                "Kind": "connect-proxy", "ID": proxy_id, "Name": proxy_id, "Address": host,
                "Port": free_port(host), "Proxy": {
                    "DestinationServiceName": service, "DestinationServiceID": service,
                    "LocalServiceAddress": host, "LocalServicePort": app_port,
                    "Upstreams": upstreams}}, headers=root)
            assert reply.status == 200, reply.text
        refused = run_cli(agent, "connect", "proxy", "-sidecar-for", "api", "-token", "nope")
        assert refused.returncode == 1
        assert "Failed looking up sidecar proxy info for api" in refused.stderr.decode()
        token_file = tmp_path / "web.token"
        token_file.write_text(secrets["web"])
        proxies.append(ProxyProcess(agent, "-sidecar-for", "api", "-token", secrets["api"]))
        proxies.append(ProxyProcess(agent, "-sidecar-for", "web", "-token-file",
                                    str(token_file)))
        proxies[0].wait_logged("TLS updated: leaf certificate for api")
        proxies[1].wait_logged("1 instance(s)")
        assert try_get(*upstream) is None
        proxies[0].wait_logged("denied: Default behavior configured by ACLs")
        reply = agent.put("/v1/connect/intentions/exact?source=web&destination=api",
                          {"Action": "allow"}, headers=root)
        assert reply.status == 200, reply.text
        wait_until(lambda: try_get(*upstream, "/allowed"), 5, what="the allow intention")
        assert get(*upstream, "/allowed") == (200, "api /allowed")
    finally:
        for proxy in proxies:
            proxy.stop()
        api.close()
        agent.stop()
