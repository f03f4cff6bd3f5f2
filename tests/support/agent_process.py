"""Start real ``proconsul agent`` processes for tests and talk HTTP to them."""

from __future__ import annotations

import http.client
import itertools
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

READY_LINE = "Proconsul agent running!"
# How long an agent may take to say it runs, and the default deadline of wait_until: on a
# shared two-core box a Python agent's start alone took over 20 s at load 25. A deadline
# only bounds a failure; a passing test never waits for it.
START_TIMEOUT = 60
WAIT_TIMEOUT = 60
_hosts = itertools.count(random.randrange(250))


# Below the kernel's ephemeral range (32768+), so no outbound connection (agents dial
# from their own 127.0.0.x address) can take a port between choosing it and binding it.
_PORT_RANGE = (20000, 32000)
_handed_out: set[tuple[str, int]] = set()
# Every agent started, with the test file that started it (for logs_of_agents_from).
_launched: list[tuple[str, AgentProcess]] = []


def free_port(host: str) -> int:
    """A port free for both TCP and UDP on ``host``, never handed out twice in a run."""
    for _ in range(200):
        port = random.randrange(*_PORT_RANGE)
        if (host, port) in _handed_out:
            continue
        with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            try:
                tcp.bind((host, port))
                udp.bind((host, port))
            except OSError:
                continue
        _handed_out.add((host, port))
        return port
    raise RuntimeError(f"no port free for both TCP and UDP on {host}")


def next_loopback() -> str:
    """A fresh 127.0.0.x address, so parallel agents never share a port space."""
    return f"127.0.0.{next(_hosts) % 250 + 2}"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()

    @property
    def index(self) -> int:
        return int(self.headers["X-Consul-Index"])


@dataclass
class AgentProcess:
    """A running agent; ``call`` sends one HTTP request and returns the reply."""

    host: str
    port: int
    process: subprocess.Popen | None
    lan_port: int = 0
    wan_port: int = 0
    dns_port: int = -1
    log: list[str] = field(default_factory=list)
    grpc_port: int = -1

    @property
    def lan_address(self) -> str:
        return f"{self.host}:{self.lan_port}"

    def call(self, method: str, path: str, body: bytes | str | Any = None,
             headers: dict[str, str] | None = None, timeout: float = 30) -> Reply:
        if body is not None and not isinstance(body, bytes | str):
            body = json.dumps(body)
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return Reply(response.status, dict(response.getheaders()), response.read())
        finally:
            conn.close()

    def get(self, path: str, **kw) -> Reply:
        return self.call("GET", path, **kw)

    def put(self, path: str, body=None, **kw) -> Reply:
        return self.call("PUT", path, body, **kw)

    def delete(self, path: str, **kw) -> Reply:
        return self.call("DELETE", path, **kw)

    def kill(self) -> None:
        """kill -9: no leave, no cleanup."""
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_agent(*extra: str, host: str | None = None, timeout: float = START_TIMEOUT,
                dev: bool = True, dns_config: dict[str, Any] | None = None) -> AgentProcess:
    """Start ``proconsul agent`` (``-dev`` unless told otherwise) and wait until it runs.

    DNS listens on a free port (``AgentProcess.dns_port``) unless ``extra``
    sets ``-dns-port``. ``dns_config`` goes into a config file (-config-file).
    """
    host = host or next_loopback()
    port = free_port(host)
    lan_port, wan_port = free_port(host), free_port(host)
    dns_port = -1 if "-dns-port" in extra else free_port(host)
    config_args: list[str] = []
    if dns_config is not None:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as config_file:
            json.dump({"dns_config": dns_config}, config_file)
        config_args = ["-config-file", config_file.name]
    # -dev serves gRPC on 8502: a free port instead, so agents sharing a host never collide
    grpc_port = free_port(host) if dev and "-grpc-port" not in extra else -1
    cmd = [*(["-dev"] if dev else []), "-client", host, "-bind", host, "-http-port", str(port),
           "-serf-lan-port", str(lan_port), "-serf-wan-port", str(wan_port),
           "-server-port", str(free_port(host)),
           *(["-dns-port", str(dns_port)] if dns_port > 0 else []),
           *(["-grpc-port", str(grpc_port)] if grpc_port > 0 else []), *config_args, *extra]
    return _launch(cmd, AgentProcess(host, port, None, lan_port, wan_port, dns_port,
                                     grpc_port=grpc_port), timeout)


@dataclass
class ServerSpec:
    """A durable server's fixed identity: restarting it reuses host, ports and data dir."""

    data_dir: str
    host: str = field(default_factory=next_loopback)
    node: str = ""
    extra: tuple[str, ...] = ()
    http_port: int = 0
    lan_port: int = 0
    server_port: int = 0

    def __post_init__(self) -> None:
        self.http_port = self.http_port or free_port(self.host)
        self.lan_port = self.lan_port or free_port(self.host)
        self.server_port = self.server_port or free_port(self.host)
        self.node = self.node or f"server-{self.host}"

    @property
    def lan_address(self) -> str:
        return f"{self.host}:{self.lan_port}"


def retry_joins(specs) -> tuple[str, ...]:
    """``-retry-join <lan address>`` for each of ``specs``: a cluster's servers find each other."""
    return tuple(a for spec in specs for a in ("-retry-join", spec.lan_address))


def start_server(spec: ServerSpec, *extra: str, timeout: float = START_TIMEOUT
                 ) -> AgentProcess:
    """Start ``proconsul agent -server`` with a data dir (no ``-dev``) from ``spec``."""
    cmd = ["-server", "-data-dir", spec.data_dir, "-node", spec.node, "-client", spec.host,
           "-bind", spec.host, "-http-port", str(spec.http_port),
           "-serf-lan-port", str(spec.lan_port), "-serf-wan-port", "-1", "-dns-port", "-1",
           "-server-port", str(spec.server_port), *spec.extra, *extra]
    return _launch(cmd, AgentProcess(spec.host, spec.http_port, None, spec.lan_port), timeout)


def _launch(args: list[str], agent: AgentProcess, timeout: float,
            wrapper: list[str] | None = None) -> AgentProcess:
    """Run ``proconsul agent ARGS`` (behind ``wrapper``, e.g. ``ip netns exec NS``)
    and return once it says it is running.

    A thread drains the agent's output for its whole life (so a full pipe can
    never stall it) and signals the ready line through an event.
    """
    # faulthandler: a crash in native code still leaves a Python traceback in the log
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONFAULTHANDLER="1")
    process = subprocess.Popen([*(wrapper or []), sys.executable, "-m", "proconsul", "agent",
                                *args],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               env=env, text=True)
    agent.process = process
    _launched.append((os.environ.get("PYTEST_CURRENT_TEST", "").split("::")[0], agent))
    ready = threading.Event()
    running: list[bool] = []

    def drain() -> None:
        for line in process.stdout:
            agent.log.append(line)
            if READY_LINE in line:
                running.append(True)
                ready.set()
        ready.set()

    threading.Thread(target=drain, daemon=True).start()
    if ready.wait(timeout) and running:
        return agent
    agent.stop()
    raise RuntimeError("agent did not start:\n" + "".join(agent.log))


_NODE_NAME = re.compile(r"^\s*Node name: '([^']*)'")


def logs_of_agents_from(test_file: str, lines: int = 60) -> str:
    """What the agents that tests in ``test_file`` started (killed and stopped ones too)
    said, to show beside a failure: first one summary line per agent, then the last
    ``lines`` of each agent's output. Agents that other files started are forgotten."""
    _launched[:] = [(path, agent) for path, agent in _launched if path == test_file]
    agents = [(agent, list(agent.log)) for _, agent in _launched]
    return "".join(_summary_line(agent, log) for agent, log in agents) + "".join(
        _tail(agent, log, lines) for agent, log in agents)


def exits_of_agents_from(test_file: str) -> str:
    """The summary lines again, printed after the logs: CI keeps only the head and tail
    of a long output, and the exit codes are what a crash shows first."""
    return "".join(_summary_line(agent, list(agent.log))
                   for path, agent in _launched if path == test_file)


def _summary_line(agent: AgentProcess, log: list[str]) -> str:
    """``host:port node=NAME exit=CODE warn=N error=N last error: LINE`` (None = running)."""
    node = next((found.group(1) for line in log if (found := _NODE_NAME.match(line))), "?")
    errors = [line for line in log if "[ERROR]" in line or "Fatal Python error" in line]
    warnings = sum("[WARN]" in line for line in log)
    last = f" last error: {errors[-1].strip()}" if errors else ""
    return (f"{agent.host}:{agent.port} node={node} exit={agent.process.poll()} "
            f"warn={warnings} error={len(errors)}{last}\n")


def _tail(agent: AgentProcess, log: list[str], lines: int) -> str:
    skipped = max(len(log) - lines, 0)
    marker = f"... {skipped} earlier lines skipped\n" if skipped else ""
    return f"===== agent on {agent.host}:{agent.port}\n{marker}" + "".join(log[skipped:])


def wait_until(condition, timeout: float = WAIT_TIMEOUT, what: str = "condition"):
    """Poll a cross-process condition until it holds (there is no event to await)."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def blocking_count(agent: AgentProcess) -> int:
    """How many blocking queries the agent's server holds parked (its
    ``consul.rpc.queries_blocking`` gauge; 0 on a client agent)."""
    text = agent.get("/v1/agent/metrics?format=prometheus").text
    # a gauge: named after the host too, unless telemetry.disable_hostname (as go-metrics)
    found = re.search(r"^consul_(?:\w+_)?rpc_queries_blocking(?:\{[^}]*\})? (\S+)$", text, re.M)
    return int(float(found.group(1))) if found else 0


def start_agent_with_args(args: list[str], host: str, http_port: int,
                          timeout: float = START_TIMEOUT) -> AgentProcess:
    """Start ``proconsul agent ARGS`` exactly as given (no flags added) and wait until it
    runs; ``host:http_port`` is where its HTTP API will be (from its config)."""
    return _launch(args, AgentProcess(host, http_port, None), timeout)
