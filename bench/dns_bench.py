"""DNS load benchmark: dnsperf against a ``-dev`` agent holding 1,000 services.

    python bench/dns_bench.py                 # 10 s per run
    python bench/dns_bench.py --quick         # 3 s per run, smoke test
    python bench/dns_bench.py --server 127.0.0.1:8600 --no-register   # an agent already loaded

See bench/README.md. Registers the services through the HTTP API, checks one
answer, warms up, then runs dnsperf twice: flat out (queries/s) and at a fixed
rate with per-query latencies (p50/p99/p99.9). Target: >= 10,000 q/s, p99 < 5 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TARGET_QPS = 10_000
TARGET_P99_MS = 5.0


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=int, default=10, help="seconds per dnsperf run (10)")
    p.add_argument("--quick", action="store_true", help="3 s per run (smoke test)")
    p.add_argument("--services", type=int, default=1000, help="services to register (1000)")
    p.add_argument("--instances", type=int, default=2,
                   help="instances of each service, on distinct nodes (2)")
    p.add_argument("--nodes", type=int, default=50, help="catalog nodes to spread them on (50)")
    p.add_argument("--types", default="A,SRV", help="query types, comma separated (A,SRV)")
    p.add_argument("--outstanding", type=int, default=20,
                   help="dnsperf -q for the throughput run (20)")
    p.add_argument("--rate", type=int, default=TARGET_QPS,
                   help="dnsperf -Q for the latency run (10000)")
    p.add_argument("--tcp", action="store_true", help="query over TCP (dnsperf -m tcp)")
    p.add_argument("--server", help="HOST:PORT of a DNS server already running (no agent started)")
    p.add_argument("--http", help="HTTP base URL of that agent, for registering")
    p.add_argument("--no-register", action="store_true", help="the services are already there")
    p.add_argument("--agent-arg", action="append", default=[],
                   help="extra argument for the agent (repeatable)")
    p.add_argument("--results-dir", default=str(h.RESULTS_DIR))
    p.add_argument("--no-json", action="store_true", help="do not write the JSON results")
    a = p.parse_args(argv)
    if a.quick:
        a.duration = 3
    if a.instances > a.nodes:
        p.error("--instances cannot exceed --nodes")
    return a


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def service_name(i: int) -> str:
    return f"svc-{i:04d}"


def register(http_url: str, services: int, instances: int, nodes: int) -> None:
    """``services`` services with ``instances`` passing instances each, through the HTTP API."""
    client = h.Http(http_url, timeout=10)
    try:
        for i in range(services):
            for k in range(instances):
                n = (i + k) % nodes
                body = {
                    "Node": f"node-{n:03d}", "Address": f"10.0.{n // 250}.{n % 250 + 1}",
                    "Service": {"ID": f"{service_name(i)}-{k}", "Service": service_name(i),
                                "Port": 8000 + k, "Tags": ["bench"]},
                    "Check": {"CheckID": f"{service_name(i)}-{k}-check", "Name": "up",
                              "ServiceID": f"{service_name(i)}-{k}", "Status": "passing"},
                }
                status, text = client.request("PUT", "/v1/catalog/register",
                                              json.dumps(body).encode())
                if status != 200:
                    raise SystemExit(f"register failed: {status} {text!r}")
    finally:
        client.close()


def check_answer(host: str, port: int, instances: int) -> None:
    """One A question must get every instance (up to the UDP limit of 3)."""
    import dns.message
    import dns.query

    reply = dns.query.udp(dns.message.make_query(f"{service_name(0)}.service.consul.", "A"),
                          host, port=port, timeout=5)
    got = sum(len(rrset) for rrset in reply.answer)
    if got != min(instances, 3):
        raise SystemExit(f"unexpected answer to {service_name(0)}:\n{reply}")


def write_queries(path: Path, services: int, types: list[str]) -> int:
    lines = [f"{service_name(i)}.service.consul {t}" for i in range(services) for t in types]
    path.write_text("\n".join(lines) + "\n")
    return len(lines)


@dataclass
class PerfResult:
    """One dnsperf run."""

    command: str
    sent: int = 0
    completed: int = 0
    lost: int = 0
    qps: float = 0.0
    avg_ms: float = 0.0
    rcodes: dict[str, int] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)

    def problems(self) -> list[str]:
        out = []
        if not self.completed:
            out.append("no responses")
        if self.lost:
            out.append(f"{self.lost} of {self.sent} queries lost")
        bad = {k: v for k, v in self.rcodes.items() if k != "NOERROR"}
        if bad:
            out.append("rcodes " + ", ".join(f"{k} {v}" for k, v in bad.items()))
        return out


_RE = {
    "sent": re.compile(r"Queries sent:\s+(\d+)"),
    "completed": re.compile(r"Queries completed:\s+(\d+)"),
    "lost": re.compile(r"Queries lost:\s+(\d+)"),
    "qps": re.compile(r"Queries per second:\s+([\d.]+)"),
    "avg_ms": re.compile(r"Average Latency \(s\):\s+([\d.]+)"),
}
_RE_RCODE = re.compile(r"^\s+([A-Z]+) (\d+) \([\d.]+%\)", re.M)
_RE_VERBOSE = re.compile(r"^> (\S+) \S+ \S+ ([\d.]+)$", re.M)


def parse_dnsperf(command: str, text: str) -> PerfResult:
    """dnsperf's statistics block, plus per-query latencies when it ran with -v."""
    result = PerfResult(command)
    for key, pattern in _RE.items():
        m = pattern.search(text)
        if m is None:
            raise SystemExit(f"dnsperf output has no {key}:\n{text[-2000:]}")
        value = float(m.group(1))
        setattr(result, key, value * 1000 if key == "avg_ms" else
                (value if key == "qps" else int(value)))
    codes = text.split("Response codes:", 1)[-1].split("\n", 1)[0]
    result.rcodes = {k: int(v) for k, v in re.findall(r"([A-Z]+) (\d+)", codes)}
    latencies = sorted(float(m.group(2)) * 1000 for m in _RE_VERBOSE.finditer(text))
    if latencies:
        for pct in (50, 90, 99, 99.9):
            index = min(len(latencies) - 1, int(len(latencies) * pct / 100))
            result.latency_ms[format(pct, "g")] = round(latencies[index], 3)
    return result


def dnsperf(host: str, port: int, queries: Path, duration: int, *, tcp: bool,
            outstanding: int | None = None, rate: int | None = None, verbose: bool = False,
            runs: int | None = None) -> PerfResult:
    argv = [shutil.which("dnsperf") or "/usr/bin/dnsperf", "-s", host, "-p", str(port),
            "-d", str(queries), "-c", "1", "-T", "1", "-t", "2"]
    argv += ["-m", "tcp"] if tcp else []
    argv += ["-n", str(runs)] if runs else ["-l", str(duration)]
    argv += ["-q", str(outstanding)] if outstanding else []
    argv += ["-Q", str(rate)] if rate else []
    argv += ["-v"] if verbose else []
    proc = h.spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = proc.communicate(timeout=duration + 60)
    finally:
        h.stop(proc)
    return parse_dnsperf(shlex.join(argv), out.decode(errors="replace"))


def main(argv=None) -> int:
    a = parse_args(argv)
    h.install_cleanup()
    if shutil.which("dnsperf") is None:
        raise SystemExit("needs dnsperf (apt-get install dnsperf; .ci/run installs it)")
    types = [t.strip().upper() for t in a.types.split(",") if t.strip()]
    if a.server:
        host, _, port_text = a.server.rpartition(":")
        port, http_url, command = int(port_text), a.http, "attached"
    else:
        (port,) = h.free_ports(1)
        os.environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
        cluster = h.start_proconsul(dev=True, cmd=[sys.executable, "-m", "proconsul"],
                                    extra_args=["-dns-port", str(port), *a.agent_arg],
                                    label="proconsul-dns")
        host, http_url, command = "127.0.0.1", cluster.url, cluster.info["command"]
    log(f"DNS at {host}:{port} ({command})")
    if not a.no_register:
        if not http_url:
            raise SystemExit("--server needs --http to register (or --no-register)")
        log(f"registering {a.services} services x {a.instances} instances on {a.nodes} nodes")
        register(http_url, a.services, a.instances, a.nodes)
    check_answer(host, port, a.instances)
    with tempfile.TemporaryDirectory(prefix="dns-bench-") as tmp:
        queries = Path(tmp) / "queries.txt"
        count = write_queries(queries, a.services, types)
        log(f"warm-up: each of the {count} questions once")
        dnsperf(host, port, queries, a.duration, tcp=a.tcp, runs=1, outstanding=a.outstanding)
        log(f"throughput: {a.duration} s flat out, {a.outstanding} outstanding")
        flat = dnsperf(host, port, queries, a.duration, tcp=a.tcp, outstanding=a.outstanding)
        log(f"latency: {a.duration} s at {a.rate} q/s, every query timed")
        paced = dnsperf(host, port, queries, a.duration, tcp=a.tcp, outstanding=100,
                        rate=a.rate, verbose=True)
    rows = [
        ["flat out", f"{flat.qps:,.0f}", f"{flat.avg_ms:.3f}", "-", "-", "-"],
        [f"at {a.rate}/s", f"{paced.qps:,.0f}", f"{paced.avg_ms:.3f}",
         *(f"{paced.latency_ms.get(p, float('nan')):.3f}" for p in ("50", "99", "99.9"))],
    ]
    h.print_table(rows, ["run", "queries/s", "avg ms", "p50 ms", "p99 ms", "p99.9 ms"])
    problems = [f"{name}: {p}" for name, run in (("flat out", flat), ("paced", paced))
                for p in run.problems()]
    verdict = (f"target >= {TARGET_QPS:,} q/s: {'met' if flat.qps >= TARGET_QPS else 'MISSED'}; "
               f"p99 < {TARGET_P99_MS} ms at {a.rate}/s: "
               f"{'met' if paced.latency_ms.get('99', 1e9) < TARGET_P99_MS else 'MISSED'}")
    print(verdict)
    for p in problems:
        print(f"problem: {p}")
    if not a.no_json:
        path = h.write_json({"bench": "dns", "parameters": vars(a), "machine": h.machine_info(),
                             "agent": command, "throughput": asdict(flat),
                             "latency": asdict(paced), "verdict": verdict,
                             "problems": problems}, "dns", a.results_dir)
        log(f"results: {path}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
