"""SWIM + Lifeguard at scale: memberlist cores in one process on virtual time.

    python -m tests.unit.gossip.scale --nodes 1000     # the full run, prints three tables
    python -m tests.unit.gossip.scale --nodes 100      # a minute or so

(a) convergence: N nodes join (node i at ``i × join_spacing`` through one of
    the first three, like agents retry-joining the servers) until all see all;
    then one more node joins and we time its dissemination against the push
    epidemic estimate of ``log_{f+1} N + ln N / f`` hops (f = GossipNodes), each
    hop waiting for the receiver's next gossip tick: half an interval on average.
(b) detection: a node crashes; time until every other node marks it dead,
    against memberlist's suspicion timeout ``SuspicionMult × log10 N × ProbeInterval``
    (Lifeguard: starts at SuspicionMaxTimeoutMult × that, shrinks to it after
    SuspicionMult − 2 independent confirmations).  Then a second node's process
    crashes on a live host, which answers port unreachable: probes of it fail
    at once instead of after a probe interval.
(c) false positives (live nodes suspected / declared dead) with 10% packet loss
    (with and without the TCP fallback ping) and with one stalled node (its
    input arrives ``stall`` seconds late), Lifeguard on vs off.

LAN timing (``MemberlistConfig.lan``) throughout.  Compression is off: it
changes the bytes on the wire, not which messages fit (piggy-backing is
budgeted on uncompressed sizes), and LZW in Python would dominate the run.
``test_scale.py`` runs small sizes and asserts the invariants.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

from proconsul.gossip.memberlist import Delegate, Memberlist, MemberlistConfig, NodeRecord
from proconsul.gossip.suspicion import suspicion_timeout
from proconsul.gossip.wire import NodeState

from .sim import SimNetwork

SEEDS = 3  # nodes the others join through
JOIN_SPACING = 0.01  # seconds between two nodes' joins while forming a cluster


class Census:
    """Who sees whom, kept up to date by every core's delegate (O(1) per change)."""

    def __init__(self) -> None:
        self.views = 0  # (observer, subject) pairs where the subject is alive or suspect
        self.known_by: Counter[str] = Counter()
        self.dead_by: Counter[str] = Counter()
        self.learned: dict[str, list[float]] = {}  # watched subject -> when each observer learned
        self.died: dict[str, list[float]] = {}  # watched subject -> when each observer marked dead

    def watch(self, name: str) -> None:
        self.learned[name] = []
        self.died[name] = []

    def joined(self, name: str, now: float) -> None:
        self.views += 1
        self.known_by[name] += 1
        if name in self.learned:
            self.learned[name].append(now)

    def left(self, node: NodeRecord, now: float) -> None:
        self.views -= 1
        self.known_by[node.name] -= 1
        if node.state == NodeState.DEAD:
            self.dead_by[node.name] += 1
            if node.name in self.died:
                self.died[node.name].append(now)


class _Observer(Delegate):
    def __init__(self, census: Census) -> None:
        self.census = census
        self.core: Memberlist | None = None

    def notify_join(self, node: NodeRecord) -> None:
        self.census.joined(node.name, self.core.now)

    def notify_leave(self, node: NodeRecord) -> None:
        self.census.left(node, self.core.now)


@dataclass
class Cluster:
    net: SimNetwork
    census: Census
    nodes: list[Memberlist] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random)

    def add(self) -> Memberlist:
        """Start one more node and join it through one of the seeds."""
        i = len(self.nodes)
        observer = _Observer(self.census)
        cfg = MemberlistConfig.lan(f"n{i}", bind_addr=f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}",
                                   enable_compression=False, **self.settings)
        core = Memberlist(cfg, observer, random.Random(self.rng.getrandbits(32)))
        observer.core = core
        self.net.add(core)
        if self.nodes:
            seed = self.nodes[self.rng.randrange(min(SEEDS, len(self.nodes)))]
            core.join([seed.address], self.net.now)
            self.net.pump(core)
        self.nodes.append(core)
        return core

    def live(self) -> list[Memberlist]:
        return [n for n in self.nodes if n.address not in self.net.dead]


def form(n: int, seed: int, join_spacing: float = JOIN_SPACING, limit: float = 600.0,
         **settings) -> tuple[Cluster, float | None]:
    """Join ``n`` nodes; returns the cluster and the seconds from the last join until
    all see all (None if not within ``limit``)."""
    cluster = Cluster(SimNetwork(seed=seed), Census(), settings=settings,
                      rng=random.Random(seed))
    for i in range(n):
        cluster.net.run_until(i * join_spacing)
        cluster.add()
    start = cluster.net.now
    ok = cluster.net.run_until_true(lambda: cluster.census.views == n * n, limit)
    return cluster, (cluster.net.now - start) if ok else None


def epidemic_hops(n: int, fanout: int) -> float:
    """Push gossip with fanout f reaches all n in about log_{f+1} n + ln n / f hops
    (synchronous rounds: the informed multiply by f+1, then the last ones are
    missed with probability e^-f per round)."""
    return math.log(n) / math.log(fanout + 1) + math.log(n) / fanout


def expected_spread_s(hops: float, gossip_interval: float) -> float:
    """Each hop waits for the receiver's next gossip tick, uniformly phased: interval / 2."""
    return hops * gossip_interval / 2


def quantile(times: list[float], q: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


# ------------------------------------------------------------------ (a)


@dataclass
class Convergence:
    nodes: int
    formation_s: float | None
    join_spread_s: float  # when the last node joined
    join_q50_s: float | None = None
    join_q99_s: float | None = None
    join_all_s: float | None = None
    gossip_interval: float = 0.2
    fanout: int = 3

    def rounds(self, seconds: float | None) -> float | None:
        return None if seconds is None else seconds / self.gossip_interval


def measure_convergence(n: int, seed: int, limit: float = 600.0) -> tuple[Cluster, Convergence]:
    cluster, formation = form(n, seed, limit=limit)
    cfg = cluster.nodes[0].config
    result = Convergence(n, formation, (n - 1) * JOIN_SPACING, gossip_interval=cfg.gossip_interval,
                         fanout=cfg.gossip_nodes)
    if formation is None:
        return cluster, result
    cluster.net.run_for(5.0)  # let the formation gossip drain
    name = f"n{len(cluster.nodes)}"
    cluster.census.watch(name)
    start = cluster.net.now
    cluster.add()
    if cluster.net.run_until_true(lambda: cluster.census.known_by[name] == n + 1, 60.0, 0.01):
        times = [t - start for t in cluster.census.learned[name]]
        result.join_q50_s = quantile(times, 0.5)
        result.join_q99_s = quantile(times, 0.99)
        result.join_all_s = max(times)
    return cluster, result


# ------------------------------------------------------------------ (b)


@dataclass
class Detection:
    nodes: int
    lifeguard: bool
    min_timeout: float
    max_timeout: float
    probe_interval: float
    first_dead_s: float | None = None
    all_dead_s: float | None = None
    suspicions: int = 0  # observers that suspected the victim (incl. via gossip)

    def expected_s(self) -> float:
        """First failed probe (one probe interval) plus the shortest suspicion timeout:
        with enough probers Lifeguard's k confirmations arrive well inside it."""
        return self.probe_interval + self.min_timeout


def measure_detection(cluster: Cluster, limit: float = 300.0, host_up: bool = False) -> Detection:
    net, census = cluster.net, cluster.census
    cfg = cluster.nodes[0].config
    live = cluster.live()
    n = len(live)
    min_timeout = suspicion_timeout(cfg.suspicion_mult, n, cfg.probe_interval)
    result = Detection(n, cfg.lifeguard, min_timeout,
                       min_timeout * (cfg.suspicion_max_timeout_mult if cfg.lifeguard else 1),
                       cfg.probe_interval)
    victim = live[cluster.rng.randrange(SEEDS, n)]
    census.watch(victim.name)
    net.kill(victim, host_up=host_up)
    start = net.now
    if net.run_until_true(lambda: census.dead_by[victim.name] >= n - 1, limit, 0.05):
        times = [t - start for t in census.died[victim.name]]
        result.first_dead_s, result.all_dead_s = min(times), max(times)
    result.suspicions = sum(o.stats.suspected[victim.name] for o in cluster.live())
    return result


# ------------------------------------------------------------------ (c)


@dataclass
class FalsePositives:
    scenario: str
    nodes: int
    lifeguard: bool
    seconds: float
    suspicions: int = 0  # observer x healthy subject: alive -> suspect
    deaths: int = 0  # observer x healthy subject: -> dead
    refutations: int = 0  # incarnation bumps of healthy nodes
    stalled_suspicions: int = 0
    stalled_deaths: int = 0
    converged: bool = True


def measure_false_positives(scenario: str, n: int, seed: int, lifeguard: bool,
                            seconds: float = 60.0, loss: float = 0.1,
                            stall: float = 5.0) -> FalsePositives:
    """``scenario``: "loss", "loss-udp" (no TCP fallback ping) or "stall"."""
    settings = {"lifeguard": lifeguard}
    if scenario == "loss-udp":
        settings["disable_tcp_pings"] = True
    cluster, formation = form(n, seed, **settings)
    result = FalsePositives(scenario, n, lifeguard, seconds, converged=formation is not None)
    if formation is None:
        return result
    net = cluster.net
    net.run_for(5.0)
    stalled = None
    if scenario == "stall":
        stalled = cluster.nodes[cluster.rng.randrange(SEEDS, n)]
        net.stall[stalled.address] = stall
    else:
        net.loss = loss
    healthy = [c for c in cluster.nodes if c is not stalled]
    names = {c.name for c in healthy}
    before = _counts(cluster.nodes, names, stalled)
    incarnations = {c.name: c.local_node().incarnation for c in healthy}
    net.run_for(seconds)
    after = _counts(cluster.nodes, names, stalled)
    (result.suspicions, result.deaths, result.stalled_suspicions,
     result.stalled_deaths) = (a - b for a, b in zip(after, before, strict=True))
    result.refutations = sum(c.local_node().incarnation - incarnations[c.name] for c in healthy)
    return result


def _counts(nodes: list[Memberlist], healthy: set[str],
            stalled: Memberlist | None) -> tuple[int, int, int, int]:
    sus = dead = stalled_sus = stalled_dead = 0
    for observer in nodes:
        stats = observer.stats
        sus += sum(v for k, v in stats.suspected.items() if k in healthy)
        dead += sum(v for k, v in stats.declared_dead.items() if k in healthy)
        if stalled is not None:
            stalled_sus += stats.suspected[stalled.name]
            stalled_dead += stats.declared_dead[stalled.name]
    return sus, dead, stalled_sus, stalled_dead


# ------------------------------------------------------------------ CLI


def _fmt(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=True)]
    line = lambda cells: "  ".join(  # noqa: E731
        str(c).ljust(w) if i == 0 else str(c).rjust(w)
        for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nodes", type=int, default=1000, help="cluster size for (a) and (b)")
    p.add_argument("--fp-nodes", type=int, default=0,
                   help="cluster size for (c) (default: --nodes, at most 200)")
    p.add_argument("--fp-seconds", type=float, default=60.0, help="virtual seconds per (c) run")
    p.add_argument("--stall", type=float, default=5.0, help="input delay of the stalled node")
    p.add_argument("--loss", type=float, default=0.1, help="packet loss for (c)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--only", choices=["convergence", "detection", "fp"], action="append")
    a = p.parse_args(argv)
    parts = set(a.only or ["convergence", "detection", "fp"])
    fp_nodes = a.fp_nodes or min(a.nodes, 200)
    wall = time.monotonic()

    def log(msg: str) -> None:
        print(f"[{time.monotonic() - wall:6.1f}s] {msg}", file=sys.stderr, flush=True)

    cluster = None
    if parts & {"convergence", "detection"}:
        log(f"forming {a.nodes} nodes")
        cluster, conv = measure_convergence(a.nodes, a.seed)
        if "convergence" in parts:
            total = a.nodes + 1
            hops = {"50%": math.log(total / 2) / math.log(conv.fanout + 1),
                    "all": epidemic_hops(total, conv.fanout)}
            gi = conv.gossip_interval
            print(f"\n(a) convergence, N={a.nodes}, gossip every {gi:g} s to {conv.fanout} "
                  "nodes (1 round = 1 gossip interval)")
            print(table(["what", "seconds", "rounds", "expected s", "expected hops"], [
                [f"all see all, after the last of {a.nodes} joins (joins spread over "
                 f"{conv.join_spread_s:.1f} s)", _fmt(conv.formation_s),
                 _fmt(conv.rounds(conv.formation_s), 1), "-", "-"],
                ["one more join reaches 50% of nodes", _fmt(conv.join_q50_s),
                 _fmt(conv.rounds(conv.join_q50_s), 1),
                 _fmt(expected_spread_s(hops["50%"], gi)), _fmt(hops["50%"], 1)],
                ["one more join reaches 99% of nodes", _fmt(conv.join_q99_s),
                 _fmt(conv.rounds(conv.join_q99_s), 1), "-", "-"],
                ["one more join reaches all nodes", _fmt(conv.join_all_s),
                 _fmt(conv.rounds(conv.join_all_s), 1),
                 _fmt(expected_spread_s(hops["all"], gi)), _fmt(hops["all"], 1)],
            ]))
            print(f"expected hops = log_(f+1) N + ln N / f (push epidemic; 50%: log_(f+1) N/2), "
                  f"f={conv.fanout}, N={total}; expected s = hops x interval / 2")
            log("convergence done")
    if "detection" in parts and cluster is not None and conv.formation_s is not None:
        det = measure_detection(cluster)
        print(f"\n(b) crash detection, N={det.nodes}")
        print(table(["what", "seconds"], [
            ["suspicion timeout min = SuspicionMult x log10(N) x ProbeInterval",
             _fmt(det.min_timeout)],
            ["suspicion timeout max (Lifeguard, no confirmations)", _fmt(det.max_timeout)],
            ["expected: one probe interval + min timeout", _fmt(det.expected_s())],
            ["measured: first node marks it dead", _fmt(det.first_dead_s)],
            ["measured: every node marks it dead", _fmt(det.all_dead_s)],
        ]))
        print(f"{det.suspicions} of {det.nodes - 1} nodes went through suspect first")
        crash = measure_detection(cluster, host_up=True)
        print(f"\n(b') a process crash on a live host (port unreachable), N={crash.nodes}")
        print(table(["what", "seconds"], [
            ["measured: first node marks it dead", _fmt(crash.first_dead_s)],
            ["measured: every node marks it dead", _fmt(crash.all_dead_s)],
        ]))
        log("detection done")
    if "fp" in parts:
        rows = []
        for scenario in ("loss", "loss-udp", "stall"):
            for lifeguard in (True, False):
                r = measure_false_positives(scenario, fp_nodes, a.seed, lifeguard,
                                            a.fp_seconds, a.loss, a.stall)
                label = {"loss": f"{a.loss:.0%} loss", "loss-udp": f"{a.loss:.0%} loss, no TCP ping",
                         "stall": f"1 node {a.stall:g} s behind"}[scenario]
                rows.append([label, "on" if lifeguard else "off",
                             str(r.suspicions), str(r.deaths), str(r.refutations),
                             "-" if scenario != "stall" else f"{r.stalled_suspicions}",
                             "-" if scenario != "stall" else f"{r.stalled_deaths}"]
                            if r.converged else [label, "on" if lifeguard else "off",
                                                 "did not converge", "", "", "", ""])
                log(f"fp {scenario} lifeguard={lifeguard} done")
        print(f"\n(c) false positives, N={fp_nodes}, {a.fp_seconds:g} virtual seconds each "
              "(counts are observer x live-node events)")
        print(table(["scenario", "lifeguard", "suspected", "declared dead", "refutations",
                     "stalled node suspected", "stalled node dead"], rows))
    log("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
