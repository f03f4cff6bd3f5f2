"""CPU per DNS query of a ``-dev`` agent, by kind of question, revisions side by side.

    python bench/dns_cpu.py                                       # this checkout, /proc CPU
    python bench/dns_cpu.py --rev fabc18e --rev . --callgrind     # instructions, two revisions

For every revision (``--rev``: a git revision extracted with ``git archive``,
``.`` this checkout, or a directory) it starts ``agent -dev -dns-port D`` with
that code, registers the services ``dns_bench.py`` does (``--services``
services, 2 passing instances each, on ``--nodes`` nodes) and asks dnsperf
(``-q --outstanding``) these kinds of questions, the revisions taking turns
(``--rounds`` times):

    cached       ``svc-NNNN.service.consul A`` of 100 services, answered before:
                 every reply comes from the encoded-reply cache
    service-a    ``svc-NNNN.service.consul A`` of every service, each once,
    service-srv  ``... SRV``                   right after a catalog change:
    node-a       ``node-NNN.node.consul A``   every question misses the cache
    first-a      ``svc-NNNN.service.consul A`` of services never asked before (``--fresh``
                 more, split among the rounds): nothing about them is cached anywhere

(each kind's questions are asked once unmeasured first, so the state store's
own read cache holds every service's rows, as it does for services that did not
change; then the catalog changes -- a bench-only node is re-registered -- which
makes the DNS reply cache forget every reply). Per kind it prints the agent's CPU per query (all threads, from
``/proc/<pid>/task/*/schedstat``, less its idle rate) and, with
``--callgrind``, the instructions per query (the agent under ``valgrind
--tool=callgrind --instr-atstart=no``, instrumentation on around each dnsperf
run only, less the idle instruction rate). ``--profile DIR`` instead runs each
agent with cProfile switched on around each kind and writes
``DIR/<rev>-<kind>.prof``. See bench/README.md ("DNS CPU").
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cpu_per_request as cpr  # noqa: E402
import dns_bench as db  # noqa: E402
import harness as h  # noqa: E402

KINDS = ("cached", "service-a", "service-srv", "node-a", "first-a")
CACHED_SERVICES = 100
BUMP_NODE = "dns-cpu-bump"
# Under --profile: cProfile on at SIGUSR1, off at SIGUSR2 and dumped to $DNS_CPU_PROFILE.tmp.
PROFILED_MAIN = """
import cProfile, os, signal, sys
prof = cProfile.Profile()
def dump(*_):
    global prof
    prof.disable()
    path = os.environ["DNS_CPU_PROFILE"]
    prof.dump_stats(path + ".tmp")
    os.rename(path + ".tmp", path)
    prof = cProfile.Profile()
signal.signal(signal.SIGUSR1, lambda *_: prof.enable())
signal.signal(signal.SIGUSR2, dump)
from proconsul.cli.main import main
sys.exit(main())
"""


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rev", action="append", default=[],
                   help="git revision, '.' or a directory (repeatable; default '.')")
    p.add_argument("--kind", action="append", choices=KINDS, default=[],
                   help="kind of question (repeatable; default all)")
    p.add_argument("--rounds", type=int, default=1, help="measurements per kind and revision")
    p.add_argument("--services", type=int, default=1000)
    p.add_argument("--nodes", type=int, default=200)
    p.add_argument("--fresh", type=int, default=500,
                   help="services registered for first-a only, each asked once")
    p.add_argument("--cached-passes", type=int, default=0,
                   help="passes over the cached questions (default 50, 5 under callgrind)")
    p.add_argument("--outstanding", type=int, default=1, help="dnsperf -q")
    p.add_argument("--callgrind", action="store_true",
                   help="count instructions with callgrind (the agent runs ~50x slower)")
    p.add_argument("--profile", metavar="DIR", help="write cProfile dumps of each kind to DIR")
    p.add_argument("--idle", type=float, default=4.0, help="seconds to measure the idle rate")
    p.add_argument("--start-timeout", type=float, default=120.0)
    p.add_argument("--keep", action="store_true", help="keep the temp dir (callgrind dumps)")
    a = p.parse_args(argv)
    if a.callgrind and a.profile:
        p.error("--callgrind and --profile exclude each other")
    if not a.cached_passes:
        a.cached_passes = 5 if a.callgrind else 50
    return a


def cpu_ns(pid: int) -> int:
    """CPU time of all of a process's threads, in nanoseconds."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            pass  # a thread that ended meanwhile
    return total


def write_questions(path: Path, names: list[str], qtype: str) -> Path:
    path.write_text("".join(f"{name} {qtype}\n" for name in names))
    return path


class Target:
    """One ``-dev`` agent running one revision's code, with the bench catalog."""

    def __init__(self, rev: str, tree: Path, a: argparse.Namespace, label: str, tmp: Path):
        self.rev, self.a, self.label = rev, a, label
        self.dumps = tmp / f"callgrind-{label}" if a.callgrind else None
        main = PROFILED_MAIN if a.profile else cpr.AGENT_MAIN
        cmd = [sys.executable, "-P", "-c", main]
        if self.dumps is not None:
            self.dumps.mkdir()
            cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                   f"--callgrind-out-file={self.dumps}/out", *cmd]
        self.port, server_port = h.free_ports(2)
        saved = dict(os.environ)
        os.environ["PYTHONPATH"] = str(tree)
        self.profile = Path(a.profile) / f"{label}.prof" if a.profile else None
        if self.profile is not None:
            os.environ["DNS_CPU_PROFILE"] = str(self.profile)
        try:
            self.cluster = h.start_proconsul(dev=True, cmd=cmd, label=label,
                                             extra_args=["-dns-port", str(self.port),
                                                         "-server-port", str(server_port),
                                                         "-grpc-port", "-1"],
                                             deadline_s=a.start_timeout)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        self.pid = self.cluster.procs[0].pid
        self.bumps = 0
        db.register(self.cluster.url, a.services + a.fresh, 2, a.nodes)
        db.check_answer("127.0.0.1", self.port, 2)
        self.idle_ns = self.idle_instr = 0.0

    def bump(self) -> None:
        """Change the catalog, so every cached reply is forgotten."""
        self.bumps += 1
        body = (f'{{"Node":"{BUMP_NODE}","Address":"10.255.{self.bumps // 250 % 250}.'
                f'{self.bumps % 250 + 1}"}}').encode()
        status, text = h.http_once(self.cluster.url + "/v1/catalog/register", "PUT", body)
        if status != 200:
            raise RuntimeError(f"{self.rev}: catalog change failed: {status} {text[:200]!r}")

    def measure_idle(self, seconds: float) -> None:
        """CPU (and instructions) per second with no queries: timers, gossip."""
        if self.dumps is not None:
            cpr.callgrind(self.pid, "-i", "on")
        cpu0, t0 = cpu_ns(self.pid), time.monotonic()
        time.sleep(seconds)
        cpu1, elapsed = cpu_ns(self.pid), time.monotonic() - t0
        self.idle_ns = (cpu1 - cpu0) / elapsed
        if self.dumps is not None:
            cpr.callgrind(self.pid, "-i", "off")
            self.idle_instr = self._dump() / (time.monotonic() - t0)

    def measure(self, kind: str, questions: Path, passes: int, profile: Path | None) -> dict:
        a = self.a
        if profile is not None:
            os.kill(self.pid, signal.SIGUSR1)
        if self.dumps is not None:
            cpr.callgrind(self.pid, "-i", "on")
        cpu0, t0 = cpu_ns(self.pid), time.monotonic()
        res = db.dnsperf("127.0.0.1", self.port, questions, 3600, tcp=False,
                         outstanding=a.outstanding, runs=passes)
        cpu1, elapsed = cpu_ns(self.pid), time.monotonic() - t0
        if profile is not None:
            os.kill(self.pid, signal.SIGUSR2)
            deadline = time.monotonic() + 30
            while not self.profile.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            self.profile.rename(profile)
        if res.problems():
            raise RuntimeError(f"{self.rev} {kind}: {'; '.join(res.problems())}")
        n = res.completed
        out = {"queries": n, "qps": res.qps,
               "cpu_us": (cpu1 - cpu0 - self.idle_ns * elapsed) / n / 1e3}
        if self.dumps is not None:
            cpr.callgrind(self.pid, "-i", "off")
            busy = self._dump() - self.idle_instr * (time.monotonic() - t0)
            out["kinstr"] = busy / n / 1e3
        return out

    def _dump(self) -> int:
        assert self.dumps is not None
        before = set(self.dumps.iterdir())
        cpr.callgrind(self.pid, "-d")
        (dump,) = set(self.dumps.iterdir()) - before
        return cpr.callgrind_total(dump)


def main(argv=None) -> int:
    a = parse_args(argv)
    h.install_cleanup()
    if shutil.which("dnsperf") is None:
        raise SystemExit("needs dnsperf (apt-get install dnsperf)")
    revs = a.rev or ["."]
    kinds = a.kind or list(KINDS)
    tmp = Path(tempfile.mkdtemp(prefix="bench-dns-cpu-"))
    speed = h.cpu_speed()
    load0 = os.getloadavg()[0]
    print(f"{h.cpu_speed_note(speed)}; load average {load0:.2f} on {os.cpu_count()} CPUs",
          flush=True)
    services = [f"{db.service_name(i)}.service.consul" for i in range(a.services)]
    questions = {
        "cached": write_questions(tmp / "cached.txt", services[:CACHED_SERVICES], "A"),
        "service-a": write_questions(tmp / "service-a.txt", services, "A"),
        "service-srv": write_questions(tmp / "service-srv.txt", services, "SRV"),
        "node-a": write_questions(tmp / "node-a.txt",
                                  [f"node-{n:03d}.node.consul" for n in range(a.nodes)], "A"),
    }
    profile_dir = Path(a.profile) if a.profile else None
    if profile_dir is not None:
        profile_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, list[dict]]] = {r: {k: [] for k in kinds} for r in revs}
    targets: list[Target] = []
    try:
        for i, rev in enumerate(revs):
            print(f"starting {rev} and registering {a.services + a.fresh} services", flush=True)
            targets.append(Target(rev, cpr.prepare_tree(rev, tmp), a, f"dns-cpu-{i}", tmp))
        for t in targets:
            t.measure_idle(a.idle)
            print(f"{t.rev}: idle {t.idle_ns / 1e6:.1f} ms CPU/s"
                  + (f", {t.idle_instr / 1e6:.1f} M instructions/s" if t.dumps else ""),
                  flush=True)
        per_round = a.fresh // a.rounds
        for kind in kinds:
            for rnd in range(a.rounds):
                if kind == "first-a":
                    first = a.services + rnd * per_round
                    questions[kind] = write_questions(tmp / f"first-{rnd}.txt", [
                        f"{db.service_name(i)}.service.consul"
                        for i in range(first, first + per_round)], "A")
                for t in targets:
                    if kind == "first-a":
                        passes = 1
                    elif kind == "cached":
                        db.dnsperf("127.0.0.1", t.port, questions[kind], 600, tcp=False,
                                   outstanding=a.outstanding, runs=1)
                        passes = a.cached_passes
                    else:  # the agent's read caches warm, then its DNS replies forgotten
                        db.dnsperf("127.0.0.1", t.port, questions[kind], 600, tcp=False,
                                   outstanding=a.outstanding, runs=1)
                        t.bump()
                        passes = 1
                    profile = None
                    if profile_dir is not None:
                        profile = profile_dir / f"{t.rev.replace('/', '_')}-{kind}-{rnd}.prof"
                    results[t.rev][kind].append(t.measure(kind, questions[kind], passes,
                                                          profile))
    finally:
        h.finish_runs([t.cluster for t in targets], tmp, a.keep)

    headers = ["kind"]
    for r in revs:
        headers += [f"{r} CPU µs/q", "q/s"] + (["k instr/q"] if a.callgrind else [])
    if len(revs) == 2:
        headers.append("after/before")
    rows = []
    for kind in kinds:
        row, meds = [kind], []
        for r in revs:
            runs = results[r][kind]
            cpu = statistics.median(x["cpu_us"] for x in runs)
            row += [f"{cpu:.1f}", f"{statistics.median(x['qps'] for x in runs):,.0f}"]
            meds.append(cpu)
            if a.callgrind:
                meds[-1] = statistics.median(x["kinstr"] for x in runs)
                row.append(f"{meds[-1]:.1f}")
        if len(revs) == 2:
            row.append(f"{meds[1] / meds[0]:.2f}")
        rows.append(row)
    print(f"\n-dev agent, {a.services} services x 2 instances on {a.nodes} nodes, dnsperf "
          f"-q {a.outstanding}, {a.rounds} round(s); load average {load0:.2f} -> "
          f"{os.getloadavg()[0]:.2f}")
    h.print_table(rows, headers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
