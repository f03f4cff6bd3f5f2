"""``proconsul connect redirect-traffic`` in a throwaway network namespace (tests run as root):
Consul's iptables chains and rules, and TCP really going to the proxy's ports."""

from __future__ import annotations

import os
import random
import subprocess
import sys

import pytest

from tests.support import netns
from tests.support.cli_process import run_cli

# Inside the namespace: listen where the proxy's outbound listener would be, dial an
# address nothing listens on, print where the connection landed (or that it was refused).
PROBE = """
import os, socket, struct, sys
uid, target = int(sys.argv[1]), int(sys.argv[2])
listener = socket.create_server(("0.0.0.0", target))
if uid:
    os.setuid(uid)
client = socket.socket()
try:
    client.connect(("10.77.0.1", 80))
except ConnectionRefusedError:
    print("refused")
    sys.exit()
conn, _ = listener.accept()
raw = conn.getsockopt(socket.SOL_IP, 80, 16)  # SO_ORIGINAL_DST
port, ip = struct.unpack_from("!H4s", raw, 2)
print(f"redirected from {socket.inet_ntoa(ip)}:{port}")
"""


@pytest.fixture
def namespace():
    netns.clean_stale()
    name = f"{netns.PREFIX}-{os.getpid()}-{random.randrange(16 ** 4):04x}-tproxy"
    netns.run("ip", "netns", "add", name)
    try:
        netns.run("ip", "-n", name, "link", "set", "lo", "up")
        netns.run("ip", "-n", name, "addr", "add", "10.77.0.1/32", "dev", "lo")
        yield name
    finally:
        netns.run("ip", "netns", "delete", name, check=False)


def probe(name: str, uid: int = 0, listen: int = 15001) -> str:
    result = subprocess.run(["ip", "netns", "exec", name, sys.executable, "-c", PROBE,
                             str(uid), str(listen)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def nat_rules(name: str) -> list[str]:
    return [line for line in netns.run("iptables", "-t", "nat", "-S", netns=name).splitlines()
            if not line.startswith("-P ")]


def redirect(name: str, *args: str, agent=None):
    return run_cli(agent, "connect", "redirect-traffic", "-netns", f"/var/run/netns/{name}",
                   *args)


def test_outbound_tcp_goes_to_the_proxy_except_the_proxys_own(namespace):
    assert probe(namespace) == "refused"
    result = redirect(namespace, "-proxy-uid", "1234", "-proxy-inbound-port", "20000")
    assert (result.returncode, result.stdout) == (
        0, b"    Successfully applied traffic redirection rules\n"), result.stderr
    assert probe(namespace) == "redirected from 10.77.0.1:80"
    assert probe(namespace, uid=1234) == "refused"  # the proxy's own traffic is left alone


def test_chains_rules_and_exclusions_are_consuls(namespace):
    result = redirect(namespace, "-proxy-uid", "1234", "-proxy-inbound-port", "20000",
                      "-proxy-outbound-port", "15002", "-exclude-inbound-port", "22",
                      "-exclude-outbound-port", "443", "-exclude-outbound-cidr", "10.0.0.0/8",
                      "-exclude-uid", "42", "-consul-dns-ip", "10.77.0.53")
    assert result.returncode == 0, result.stderr
    assert nat_rules(namespace) == [
        "-N CONSUL_DNS_REDIRECT",
        "-N CONSUL_PROXY_INBOUND",
        "-N CONSUL_PROXY_IN_REDIRECT",
        "-N CONSUL_PROXY_OUTPUT",
        "-N CONSUL_PROXY_REDIRECT",
        "-A PREROUTING -p tcp -j CONSUL_PROXY_INBOUND",
        "-A OUTPUT -p udp -m udp --dport 53 -j CONSUL_DNS_REDIRECT",
        "-A OUTPUT -p tcp -m tcp --dport 53 -j CONSUL_DNS_REDIRECT",
        "-A OUTPUT -p tcp -j CONSUL_PROXY_OUTPUT",
        "-A CONSUL_DNS_REDIRECT -p udp -m udp --dport 53 -j DNAT --to-destination 10.77.0.53",
        "-A CONSUL_DNS_REDIRECT -p tcp -m tcp --dport 53 -j DNAT --to-destination 10.77.0.53",
        "-A CONSUL_PROXY_INBOUND -p tcp -m tcp --dport 22 -j RETURN",
        "-A CONSUL_PROXY_INBOUND -p tcp -j CONSUL_PROXY_IN_REDIRECT",
        "-A CONSUL_PROXY_IN_REDIRECT -p tcp -j REDIRECT --to-ports 20000",
        "-A CONSUL_PROXY_OUTPUT -m owner --uid-owner 42 -j RETURN",
        "-A CONSUL_PROXY_OUTPUT -d 10.0.0.0/8 -j RETURN",
        "-A CONSUL_PROXY_OUTPUT -p tcp -m tcp --dport 443 -j RETURN",
        "-A CONSUL_PROXY_OUTPUT -m owner --uid-owner 1234 -j RETURN",
        "-A CONSUL_PROXY_OUTPUT -d 127.0.0.1/32 -j RETURN",
        "-A CONSUL_PROXY_OUTPUT -j CONSUL_PROXY_REDIRECT",
        "-A CONSUL_PROXY_REDIRECT -p tcp -j REDIRECT --to-ports 15002",
    ]
    assert probe(namespace, listen=15002) == "refused"  # 10.0.0.0/8 is excluded

    again = redirect(namespace, "-proxy-uid", "1234", "-proxy-inbound-port", "20000")
    assert again.returncode == 1
    assert again.stderr.decode().startswith(
        "==> Error setting up traffic redirection rules: failed to run command: ")
    assert again.stderr.decode().rstrip().endswith("Chain already exists.")


def test_ports_and_exclusions_come_from_the_proxy_registration(namespace, agent, unique):
    proxy = f"{unique}-sidecar"
    assert agent.put("/v1/agent/service/register", {
        "Kind": "connect-proxy", "ID": proxy, "Name": proxy, "Port": 21000,
        "Proxy": {"DestinationServiceName": unique, "Mode": "transparent",
                  "TransparentProxy": {"OutboundListenerPort": 15003},
                  "Config": {"bind_port": 21001, "envoy_prometheus_bind_addr": "0.0.0.0:9102"},
                  "Expose": {"Paths": [{"Path": "/health", "LocalPathPort": 8080,
                                        "ListenerPort": 21500}]}}}).status == 200
    result = redirect(namespace, "-proxy-uid", "1234", "-proxy-id", proxy, agent=agent)
    assert result.returncode == 0, result.stderr
    rules = nat_rules(namespace)
    assert "-A CONSUL_PROXY_IN_REDIRECT -p tcp -j REDIRECT --to-ports 21001" in rules
    assert "-A CONSUL_PROXY_REDIRECT -p tcp -j REDIRECT --to-ports 15003" in rules
    assert "-A CONSUL_PROXY_INBOUND -p tcp -m tcp --dport 9102 -j RETURN" in rules
    assert "-A CONSUL_PROXY_INBOUND -p tcp -m tcp --dport 21500 -j RETURN" in rules
    assert probe(namespace, listen=15003) == "redirected from 10.77.0.1:80"


def test_errors_change_nothing(namespace, agent, unique):
    cases = [
        ((), "==> -proxy-uid is required\n"),
        (("-proxy-uid", "1"), "==> either -proxy-id or -proxy-inbound-port are required\n"),
        (("-proxy-uid", "1", "-proxy-id", "x", "-proxy-inbound-port", "2"),
         "==> -proxy-inbound-port or -proxy-outbound-port cannot be provided together with "
         "-proxy-id. Proxy's inbound and outbound ports are retrieved from the proxy's "
         "configuration instead.\n"),
    ]
    for args, message in cases:
        result = redirect(namespace, *args, agent=agent)
        assert (result.returncode, result.stderr.decode()) == (1, message), args
    assert agent.put("/v1/agent/service/register", {"ID": unique, "Name": unique,
                                                    "Port": 80}).status == 200
    plain = redirect(namespace, "-proxy-uid", "1", "-proxy-id", unique, agent=agent)
    assert (plain.returncode, plain.stderr.decode()) == (
        1, "==> Failed to create configuration to apply traffic redirection rules: service "
           f"{unique} is not a proxy service\n")
    missing = redirect(namespace, "-proxy-uid", "1", "-proxy-id", f"{unique}-nope", agent=agent)
    assert missing.returncode == 1
    assert missing.stderr.decode().startswith(
        "==> Failed to create configuration to apply traffic redirection rules: failed to "
        "fetch proxy service from Consul Agent: ")
    assert nat_rules(namespace) == []
