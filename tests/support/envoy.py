"""Real Envoy sidecars started with ``proconsul connect envoy``, and tiny app servers.

Every Envoy a test starts is killed at the end of the test (the ``envoys``
fixture in tests/interop/conftest.py), even when the test fails.
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
from dataclasses import dataclass, field

from tests.support.agent_process import AgentProcess, free_port, wait_until
from tests.support.cli_process import cli_env


@dataclass
class Envoy:
    """One Envoy process and its admin endpoint."""

    process: subprocess.Popen
    host: str
    admin_port: int
    log: list[str] = field(default_factory=list)

    def admin(self, path: str) -> str:
        conn = http.client.HTTPConnection(self.host, self.admin_port, timeout=5)
        try:
            conn.request("GET", path)
            return conn.getresponse().read().decode()
        finally:
            conn.close()

    def stats(self, prefix: str = "") -> dict[str, str]:
        lines = self.admin(f"/stats?filter={prefix}" if prefix else "/stats").splitlines()
        return dict(line.split(": ", 1) for line in lines if ": " in line)

    def config_dump(self) -> dict:
        return json.loads(self.admin("/config_dump?include_eds"))

    def live(self) -> bool:
        try:
            return "LIVE" in self.admin("/ready")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)


# One worker; a listener update (new RBAC rules) drains connections on the old filter chain
# at once, not gradually over Envoy's default ten minutes.
ENVOY_ARGS = ["--concurrency", "1", "--log-level", "info", "--disable-hot-restart",
              "--drain-time-s", "1", "--drain-strategy", "immediate"]


class EnvoyGroup:
    """The Envoys of one test: started through the CLI, all killed by :meth:`stop_all`."""

    def __init__(self) -> None:
        self.started: list[Envoy] = []

    def start(self, agent: AgentProcess, *args: str, host: str | None = None,
              timeout: float = 30, wrapper: list[str] = (), admin_port: int = 0) -> Envoy:
        """``proconsul connect envoy ARGS`` against ``agent``'s plaintext gRPC port (run
        behind ``wrapper``, e.g. ``ip netns exec NS``, with ``admin_port`` then: there
        is no probing for a free one from here)."""
        host = host or agent.host
        admin_port = admin_port or free_port(host)
        argv = [*wrapper, sys.executable, "-m", "proconsul", "connect", "envoy", *args,
                "-admin-bind", f"{host}:{admin_port}",
                "-grpc-addr", f"http://{agent.host}:{agent.grpc_port}", "--", *ENVOY_ARGS]
        env = {**cli_env(agent), "PATH": os.path.dirname(sys.executable) + os.pathsep
               + os.environ.get("PATH", "")}
        return self._spawn(argv, env, host, admin_port, timeout)

    def start_bootstrap(self, bootstrap: dict, host: str, tmp_path, timeout: float = 30,
                        wrapper: list[str] = (), admin_port: int = 0) -> Envoy:
        """Envoy itself with a bootstrap the test made (admin on a fresh port of ``host``
        unless given ``admin_port``, as behind a ``wrapper``)."""
        admin_port = admin_port or free_port(host)
        bootstrap["admin"]["address"]["socket_address"] = {"address": host,
                                                           "port_value": admin_port}
        path = tmp_path / f"bootstrap-{admin_port}.json"
        path.write_text(json.dumps(bootstrap))
        envoy = os.path.join(os.path.dirname(sys.executable), "envoy")
        return self._spawn([*wrapper, envoy, "--config-path", str(path), *ENVOY_ARGS],
                           dict(os.environ), host, admin_port, timeout)

    def _spawn(self, argv: list[str], env: dict[str, str], host: str, admin_port: int,
               timeout: float) -> Envoy:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, env=env)
        envoy = Envoy(process, host, admin_port)
        self.started.append(envoy)

        def drain() -> None:
            for line in process.stdout:
                envoy.log.append(line)

        threading.Thread(target=drain, daemon=True).start()
        try:
            wait_until(lambda: envoy.live() or process.poll() is not None, timeout,
                       what="envoy to be live")
        except AssertionError:
            raise AssertionError("envoy not live:\n" + "".join(envoy.log[-40:])) from None
        if process.poll() is not None:
            raise AssertionError("envoy exited:\n" + "".join(envoy.log[-40:]))
        return envoy

    def stop_all(self) -> None:
        for envoy in self.started:
            envoy.stop()
        self.started.clear()


class AppServer:
    """A threaded HTTP server answering every GET with its name and the path (over TLS
    when given a server-side context)."""

    def __init__(self, host: str, name: str, tls: ssl.SSLContext | None = None,
                 port: int = 0) -> None:
        self.name = name
        server_name = name

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                body = f"{server_name} {self.path}".encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer((host, port or free_port(host)), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.host, self.port = self.server.server_address[:2]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def http_get(host: str, port: int, path: str = "/", timeout: float = 5) -> tuple[int, str]:
    """(status, body); status 0 when the connection fails or is closed without a reply."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        reply = conn.getresponse()
        return reply.status, reply.read().decode(errors="replace")
    except (OSError, http.client.HTTPException):
        return 0, ""
    finally:
        conn.close()


def plain_connection_refused(host: str, port: int) -> bool:
    """True when a plaintext HTTP request to a TLS listener gets no HTTP reply."""
    with socket.create_connection((host, port), timeout=3) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            data = sock.recv(100)
        except OSError:
            return True
        return not data.startswith(b"HTTP/")


if __name__ == "__main__":  # an AppServer in its own process: python -m ... HOST PORT NAME
    app = AppServer(sys.argv[1], sys.argv[3], port=int(sys.argv[2]))
    print("ready", flush=True)
    threading.Event().wait()
