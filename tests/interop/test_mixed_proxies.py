"""Mixed data plane: an Envoy sidecar on one side, the built-in proxy on the other, mTLS both ways."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from dataclasses import dataclass

import pytest

from tests.support.agent_process import free_port, start_agent, wait_until
from tests.support.cli_process import start_cli
from tests.support.envoy import EnvoyGroup, plain_connection_refused
from tests.support.mesh import Mesh


class BuiltinProxy:
    """``proconsul connect proxy -sidecar-for SERVICE``; its output is kept for failures."""

    def __init__(self, agent, service_id: str) -> None:
        self.process = start_cli(agent, "connect", "proxy", "-sidecar-for", service_id)
        self.output: list[str] = []
        for stream in (self.process.stdout, self.process.stderr):
            threading.Thread(target=self._drain, args=(stream,), daemon=True).start()

    def _drain(self, stream) -> None:
        for line in stream:
            self.output.append(line.decode(errors="replace"))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Mixed:
    """The mesh, which side runs Envoy, and the built-in proxy of the other side."""

    mesh: Mesh
    envoy_side: str
    builtin: BuiltinProxy

    def stop(self) -> None:
        self.builtin.stop()
        self.mesh.stop()


def start_mixed(envoy_side: str) -> Mixed:
    """web → api where ``envoy_side``'s sidecar is Envoy and the other side's is built in."""
    agent = start_agent()
    mesh = Mesh(agent, EnvoyGroup())
    builtin: list[BuiltinProxy] = []
    try:
        wait_until(lambda: agent.get("/v1/connect/ca/roots").json().get("Roots"),
                   what="CA roots")
        mesh.web_upstream = free_port(agent.host)
        mesh.register_app("api", "api")
        mesh.register_app("web", "web", upstreams=[{
            "DestinationName": "api", "LocalBindAddress": agent.host,
            "LocalBindPort": mesh.web_upstream}])
        for service in ("api", "web"):
            if service == envoy_side:
                mesh.start_sidecar(service)
            else:
                builtin.append(BuiltinProxy(agent, service))
        try:
            wait_until(lambda: mesh.get()[0] == 200, 30, what="web -> api")
        except AssertionError as err:
            logs = "".join(line for p in builtin for line in p.output)
            logs += "".join(line for e in mesh.envoys.started for line in e.log[-40:])
            raise AssertionError(logs) from err
    except BaseException:
        for proxy in builtin:
            proxy.stop()
        mesh.stop()
        raise
    return Mixed(mesh, envoy_side, builtin[0])


@pytest.fixture(scope="module", params=["web", "api"], ids=["envoy-to-builtin",
                                                             "builtin-to-envoy"])
def mixed(request):
    both = start_mixed(request.param)
    yield both
    both.stop()


def test_web_reaches_api_over_mtls(mixed):
    mesh = mixed.mesh
    assert mesh.get("/mixed") == (200, "api /mixed")
    # both public listeners are TLS-only: a plaintext client gets no HTTP reply
    for service in ("api", "web"):
        assert plain_connection_refused(mesh.host, mesh.sidecar_ports[service])
    # each side saw the other's SPIFFE identity
    output = "".join(mixed.builtin.output)
    assert "eof_received" not in output  # Envoy's close_notify is no cause for a warning
    if mixed.envoy_side == "web":  # the built-in api proxy checked Envoy's client leaf
        assert re.search(r"inbound connection from \S+ \(web\) accepted",
                         output), output
    else:  # Envoy's api listener checked the built-in web proxy's client leaf
        stats = mesh.proxies["api"].stats("connect_authz")
        assert int(stats.get("connect_authz.rbac.allowed", "0")) >= 1, stats


def test_deny_intention_cuts_the_next_connection_within_2s(mixed):
    mesh = mixed.mesh
    assert mesh.get()[0] == 200
    started = time.monotonic()
    mesh.intention("web", "api", {"Action": "deny"})
    try:
        wait_until(lambda: mesh.get()[0] == 0, 2, what="the deny to take effect")
        assert time.monotonic() - started < 2
        mesh.intention("web", "api", {"Action": "allow"})
        wait_until(lambda: mesh.get()[0] == 200, 5, what="the allow to take effect")
    finally:
        mesh.agent.delete("/v1/connect/intentions/exact?source=web&destination=api")
    wait_until(lambda: mesh.get()[0] == 200, 5, what="traffic after the intention is gone")
