"""Datacenters in network namespaces, routed by a namespace that plays the WAN (tests run
as root).

:class:`WanLab` makes, for one test, a "WAN" namespace and one namespace per
datacenter, each linked to the WAN namespace by a veth pair and given a /24 of
its own, which the WAN namespace routes between.  Every agent of a datacenter
gets its own address in that /24, so traffic inside a datacenter stays inside its
namespace while traffic between datacenters crosses the WAN namespace; the test
itself stays in the root namespace and reaches everyone over one more veth into
the WAN namespace.  The WAN can be walled (:meth:`WanLab.isolate`: the WAN
namespace forwards nothing between datacenters except TCP to and from the given
mesh-gateway ports), the link between two datacenters cut (iptables DROP inside
both namespaces), and a datacenter's link delayed (``tc netem`` on its veth, or
where the kernel lacks netem, a relay process that delays TCP to one address,
reached through iptables DNAT).

Namespace names carry the creating process's pid, so a run removes only what dead
runs left behind (deleting the namespaces deletes their veths, and with the root
end of the test's veth its route); :meth:`WanLab.close` removes everything it
made, and the fixtures call it even when the test fails.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
from dataclasses import dataclass, field

from tests.support.agent_process import START_TIMEOUT, AgentProcess, _launch, free_port


class NetemUnavailable(RuntimeError):
    """The kernel has no netem qdisc (``tc qdisc add ... netem`` is refused)."""

PREFIX = "pcn"  # namespaces pcn-<pid>-<token>-<dc> and pcn-<pid>-<token>-wan
_NS_RE = re.compile(rf"^{PREFIX}-(\d+)-")
WAN_NS = "wan"  # the suffix of the WAN namespace (so no datacenter may be named so)
HOST_LINK = "host"  # the WAN namespace's end of the test's own veth


def run(*args: str, netns: str | None = None, check: bool = True) -> str:
    cmd = (["ip", "netns", "exec", netns] if netns else []) + list(args)
    result = subprocess.run(cmd, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {result.stderr.strip()}")
    return result.stdout


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale() -> None:
    """Remove namespaces left by runs whose process is gone."""
    for line in run("ip", "netns", "list").splitlines():
        name = line.split()[0] if line.strip() else ""
        match = _NS_RE.match(name)
        if match and not _alive(int(match.group(1))):
            run("ip", "netns", "delete", name, check=False)


def _free_subnet() -> int:
    """A ``10.N.0.0/16`` the host uses for nothing (second octet)."""
    used = run("ip", "-o", "-4", "addr", "show")
    for _ in range(100):
        octet = random.randrange(100, 250)
        if f" 10.{octet}." not in used:
            return octet
    raise RuntimeError("no free 10.N.0.0/16 for the WAN lab")


@dataclass
class Datacenter:
    """One datacenter's namespace and the addresses handed out in it."""

    name: str
    netns: str
    index: int  # its /24 is 10.<octet>.<index>.0
    addresses: list[str] = field(default_factory=list)


class WanLab:
    """Namespaces per datacenter, routed by a WAN namespace; agents started inside them."""

    def __init__(self, datacenters: list[str]) -> None:
        clean_stale()
        self.token = f"{random.randrange(16 ** 4):04x}"
        self.prefix = f"{PREFIX}-{os.getpid()}-{self.token}"
        self.octet = _free_subnet()
        self.wan = f"{self.prefix}-{WAN_NS}"
        self.gateway = f"10.{self.octet}.0.1"  # the test's own address, in the root namespace
        self.dcs: dict[str, Datacenter] = {}
        self.agents: list[AgentProcess] = []
        self._cuts: list[tuple[str, str]] = []
        self._relays: list[subprocess.Popen] = []
        self._spawned: list[subprocess.Popen] = []
        try:
            run("ip", "netns", "add", self.wan)
            run("ip", "link", "set", "lo", "up", netns=self.wan)
            run("sysctl", "-qw", "net.ipv4.ip_forward=1", netns=self.wan)
            self._link_host()
            for dc in datacenters:
                self.add(dc)
        except BaseException:
            self.close()
            raise

    def _link_host(self) -> None:
        """The test's veth: HOST_LINK in the WAN namespace, its peer in the root namespace
        holding :attr:`gateway` and the route to every datacenter."""
        peer = f"pcv{self.token}"
        run("ip", "link", "add", f"{peer}w", "type", "veth", "peer", "name", peer)
        run("ip", "link", "set", f"{peer}w", "netns", self.wan)
        run("ip", "link", "set", f"{peer}w", "name", HOST_LINK, netns=self.wan)
        run("ip", "addr", "add", f"10.{self.octet}.0.254/24", "dev", HOST_LINK, netns=self.wan)
        run("ip", "link", "set", HOST_LINK, "up", netns=self.wan)
        run("ip", "addr", "add", f"{self.gateway}/24", "dev", peer)
        run("ip", "link", "set", peer, "up")
        run("ip", "route", "add", f"10.{self.octet}.0.0/16", "via", f"10.{self.octet}.0.254",
            "dev", peer)

    def add(self, dc: str) -> Datacenter:
        """A new datacenter: its namespace, linked to the WAN namespace (which routes it)."""
        if dc == WAN_NS or dc in self.dcs:
            raise ValueError(f"datacenter name {dc!r} taken")
        index = len(self.dcs) + 1
        netns = f"{self.prefix}-{dc}"
        run("ip", "netns", "add", netns)
        self.dcs[dc] = Datacenter(dc, netns, index)
        near = f"dc{index}"  # its end in the WAN namespace
        run("ip", "link", "add", near, "type", "veth", "peer", "name", "wan0", netns=self.wan)
        run("ip", "link", "set", "wan0", "netns", netns, netns=self.wan)
        run("ip", "addr", "add", f"10.{self.octet}.{index}.254/24", "dev", near, netns=self.wan)
        run("ip", "link", "set", near, "up", netns=self.wan)
        run("ip", "link", "set", "lo", "up", netns=netns)
        run("ip", "link", "set", "wan0", "up", netns=netns)
        run("ip", "route", "add", f"10.{self.octet}.0.0/16", "via",
            f"10.{self.octet}.{index}.254", "dev", "wan0", "onlink", netns=netns)
        return self.dcs[dc]

    def address(self, dc: str) -> str:
        """A new address in ``dc``'s namespace (one per agent)."""
        d = self.dcs[dc]
        address = f"10.{self.octet}.{d.index}.{len(d.addresses) + 1}"
        run("ip", "addr", "add", f"{address}/24", "dev", "wan0", netns=d.netns)
        d.addresses.append(address)
        return address

    # ---- agents ---------------------------------------------------------------

    def start_agent(self, dc: str, *extra: str, host: str | None = None, server: bool = True,
                    bootstrap_expect: int = 1, join: list[str] = (),
                    join_wan: list[str] = (), timeout: float = START_TIMEOUT) -> AgentProcess:
        """An agent of ``dc`` in its namespace, on a fresh address with Consul's default
        ports (each agent has its own address, from :meth:`address` unless given) and a
        data directory of its own."""
        host = host or self.address(dc)
        dns_port = 8600
        args = ["-datacenter", dc, "-node", f"{dc}-{host.rsplit('.', 1)[1]}",
                "-bind", host, "-client", host, "-dns-port", str(dns_port)]
        args += ["-data-dir", f"/tmp/{self.prefix}-{host}"]
        if server:
            args += ["-server", "-bootstrap-expect", str(bootstrap_expect or 1)]
        args += [a for j in join for a in ("-retry-join", j)]
        args += [a for j in join_wan for a in ("-retry-join-wan", j)]
        grpc_port = int(extra[extra.index("-grpc-port") + 1]) if "-grpc-port" in extra else -1
        agent = _launch([*args, *extra], AgentProcess(host, 8500, None, 8301, 8302, dns_port,
                                                      grpc_port=grpc_port),
                        timeout, wrapper=self.inside(dc))
        self.agents.append(agent)
        return agent

    def inside(self, dc: str) -> list[str]:
        """The command prefix that runs a program in ``dc``'s namespace."""
        return ["ip", "netns", "exec", self.dcs[dc].netns]

    def spawn(self, dc: str, *argv: str) -> subprocess.Popen:
        """Run ``argv`` in ``dc``'s namespace (stdout piped); killed by :meth:`close`."""
        process = subprocess.Popen([*self.inside(dc), *argv], stdout=subprocess.PIPE, text=True)
        self._spawned.append(process)
        return process

    # ---- faults ---------------------------------------------------------------

    def isolate(self, gateways: list[tuple[str, int]]) -> None:
        """Wall the WAN: from now on the WAN namespace forwards nothing between
        datacenters except TCP to and from each ``(address, port)`` of ``gateways`` (the
        mesh gateways' WAN ports); the test still reaches everyone. Called again, it
        replaces the list; :meth:`open` takes the wall down."""
        rules = [["-P", "FORWARD", "DROP"], ["-F", "FORWARD"],
                 ["-A", "FORWARD", "-i", HOST_LINK, "-j", "ACCEPT"],
                 ["-A", "FORWARD", "-o", HOST_LINK, "-j", "ACCEPT"]]
        for address, port in gateways:
            rules.append(["-A", "FORWARD", "-p", "tcp", "-d", address, "--dport", str(port),
                          "-j", "ACCEPT"])
            rules.append(["-A", "FORWARD", "-p", "tcp", "-s", address, "--sport", str(port),
                          "-j", "ACCEPT"])
        for rule in rules:
            run("iptables", "-w", *rule, netns=self.wan)

    def open(self) -> None:
        """Take down the wall of :meth:`isolate`: the WAN forwards everything again."""
        run("iptables", "-w", "-F", "FORWARD", netns=self.wan)
        run("iptables", "-w", "-P", "FORWARD", "ACCEPT", netns=self.wan)

    def dropped(self) -> int:
        """Packets the wall of :meth:`isolate` has dropped so far."""
        out = run("iptables", "-w", "-L", "FORWARD", "-v", "-x", "-n", netns=self.wan)
        return int(re.search(r"policy \w+ (\d+) packets", out).group(1))

    def cut(self, a: str, b: str) -> None:
        """Drop every packet between datacenters ``a`` and ``b`` (both directions)."""
        for here, there in ((a, b), (b, a)):
            subnet = f"10.{self.octet}.{self.dcs[there].index}.0/24"
            netns = self.dcs[here].netns
            run("iptables", "-w", "-A", "INPUT", "-s", subnet, "-j", "DROP", netns=netns)
            run("iptables", "-w", "-A", "OUTPUT", "-d", subnet, "-j", "DROP", netns=netns)
        self._cuts.append((a, b))

    def heal(self) -> None:
        """Remove every cut."""
        for dc in {name for cut in self._cuts for name in cut}:
            run("iptables", "-w", "-F", "INPUT", netns=self.dcs[dc].netns)
            run("iptables", "-w", "-F", "OUTPUT", netns=self.dcs[dc].netns)
        self._cuts.clear()

    def delay(self, dc: str, ms: float) -> None:
        """Add ``ms`` of delay to every packet leaving ``dc`` (0 removes it); raises
        :class:`NetemUnavailable` where the kernel has no netem qdisc."""
        netns = self.dcs[dc].netns
        run("tc", "qdisc", "del", "dev", "wan0", "root", netns=netns, check=False)
        if ms > 0:
            try:
                run("tc", "qdisc", "add", "dev", "wan0", "root", "netem", "delay", f"{ms}ms",
                    netns=netns)
            except RuntimeError as err:
                if "qdisc kind is unknown" in str(err):
                    raise NetemUnavailable(str(err)) from None
                raise

    def relay(self, src_dc: str, host: str, ports: list[int], ms: float) -> subprocess.Popen:
        """Send ``src_dc``'s TCP connections to each of ``host``'s ``ports`` through one
        relay process (in the root namespace) that delays each direction by ``ms / 2``:
        the userspace stand-in for :meth:`delay` (iptables DNAT in ``src_dc``'s
        namespace). :func:`relay_stats` asks it how late its timers fired."""
        mappings = []
        for port in ports:
            listen = free_port(self.gateway)
            mappings.append((port, listen))
        relay = subprocess.Popen(
            [sys.executable, "-m", "tests.support.delay_relay", self.gateway, str(ms),
             *(f"{listen}:{host}:{port}" for port, listen in mappings)],
            stdout=subprocess.PIPE, text=True)
        self._relays.append(relay)
        if relay.stdout.readline().strip() != "ready":
            raise RuntimeError("the delay relay did not start")
        for port, listen in mappings:
            run("iptables", "-w", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-d", host,
                "--dport", str(port), "-j", "DNAT",
                "--to-destination", f"{self.gateway}:{listen}", netns=self.dcs[src_dc].netns)
        return relay

    def unrelay(self, src_dc: str) -> None:
        """Remove ``src_dc``'s relays (new connections go direct again)."""
        run("iptables", "-w", "-t", "nat", "-F", "OUTPUT", netns=self.dcs[src_dc].netns)
        for relay in self._relays:
            relay.kill()
            relay.wait()
        self._relays.clear()

    # ---- teardown -------------------------------------------------------------

    def close(self) -> None:
        """Stop the agents, delete the namespaces (their veths and routes go with them)
        and the agents' data directories."""
        for agent in self.agents:
            if agent.process is not None:
                agent.kill()
        for process in self._relays + self._spawned:
            process.kill()
            process.wait()
        for d in self.dcs.values():
            run("ip", "netns", "delete", d.netns, check=False)
            for address in d.addresses:
                subprocess.run(["rm", "-rf", f"/tmp/{self.prefix}-{address}"], check=False)
        run("ip", "netns", "delete", self.wan, check=False)


def relay_stats(relay: subprocess.Popen) -> dict:
    """How late the relay's timers fired since the last call (SIGUSR1; one JSON line)."""
    relay.send_signal(signal.SIGUSR1)
    return json.loads(relay.stdout.readline())
