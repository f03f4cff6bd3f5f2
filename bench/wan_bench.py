"""Cross-datacenter KV reads: what ``?dc=`` adds over a local read, same run.

    python bench/wan_bench.py                 # 10 s per run, link delays 0 and 20 ms
    python bench/wan_bench.py --quick         # 2 s per run (smoke test)
    python bench/wan_bench.py --duration 5 --rounds 5

Needs root (network namespaces, tc) and wrk. dc1 and dc2 each run one server
in their own namespace (tests/support/netns.py), joined over a bridge that
plays the WAN; dc2 also runs a client agent, which wrk (in the root namespace)
loads with stale KV GETs: local ones (client -> dc2 server) and ``?dc=dc1``
ones (client -> dc2 server -> dc1 server over the WAN). Each delay step adds
``tc netem delay`` to dc1's link, so the WAN round trip grows by that much; where
the kernel has no netem (nor any other qdisc that can delay), a relay process
delays dc2's connections to dc1's RPC port instead. While each ``?dc=dc1`` run
goes, one-byte echoes from dc2's namespace to beside dc1's server measure the
link RTT, through the delayed path and directly (the relay's own cost under the
same load is the difference minus the delay), and the relay reports how late its
timers fired. Reported: p50/p99 and throughput of both reads at c=1 and c=16,
the p50 the WAN hop adds, and that minus the link RTT and the relay's own cost
(the target: at most 1 ms at p50); each figure is the median of ``--rounds``
interleaved runs. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import harness as h  # noqa: E402

from tests.support.agent_process import wait_until  # noqa: E402
from tests.support.netns import NetemUnavailable, WanLab, relay_stats  # noqa: E402

TARGET_OVERHEAD_MS = 1.0
ECHO_PORT = 9999  # delayed like the RPC port (netem or the relay)
ECHO_DIRECT_PORT = 9998  # never through the relay
PROBE_INTERVAL = 0.01  # seconds between echo pairs while a run goes

ECHO_SERVER = """
import asyncio, sys
async def echo(reader, writer):
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
async def main():
    servers = [await asyncio.start_server(echo, sys.argv[1], int(port))
               for port in sys.argv[2:]]
    print("ready", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))
asyncio.run(main())
"""

# Echo RTTs (ms) to each port given, alternating, every INTERVAL s for SECONDS s (or
# COUNT times when SECONDS is 0); prints the medians by port as JSON.
RTT_PROBE = """
import json, socket, statistics, sys, time
host, seconds, count, interval, *ports = sys.argv[1:]
conns = {}
for port in ports:
    conns[port] = socket.create_connection((host, int(port)), timeout=5)
    conns[port].setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
rtts = {port: [] for port in ports}
end = time.monotonic() + float(seconds)
n = 0
while (n < int(count)) if float(seconds) == 0 else (time.monotonic() < end):
    for port, conn in conns.items():
        start = time.perf_counter()
        conn.sendall(b"x")
        conn.recv(1)
        rtts[port].append((time.perf_counter() - start) * 1000)
    n += 1
    time.sleep(float(interval))
print(json.dumps({port: statistics.median(v) for port, v in rtts.items()}))
"""


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=int, default=10, help="whole seconds per wrk run (10)")
    p.add_argument("--quick", action="store_true", help="2 s per run (smoke test)")
    p.add_argument("--delays", default="0,20", help="link delays to add, ms (0,20)")
    p.add_argument("--connections", default="1,16", help="wrk -c values (1,16)")
    p.add_argument("--keys", type=int, default=100, help="distinct keys (100)")
    p.add_argument("--rounds", type=int, default=3,
                   help="local/remote runs interleaved per step; medians reported (3)")
    return p.parse_args(argv)


def probe(lab: WanLab, src_dc: str, host: str, seconds: float = 0, count: int = 51
          ) -> subprocess.Popen:
    """Start echo RTT sampling from ``src_dc``'s namespace to ``host``'s echo ports (the
    delayed one and the direct one): ``count`` pairs at once, or a pair every
    PROBE_INTERVAL for ``seconds``. :func:`probe_result` reads its medians."""
    return subprocess.Popen(
        ["ip", "netns", "exec", lab.dcs[src_dc].netns, sys.executable, "-c", RTT_PROBE, host,
         str(seconds), str(count), str(PROBE_INTERVAL if seconds else 0), str(ECHO_PORT),
         str(ECHO_DIRECT_PORT)], stdout=subprocess.PIPE, text=True)


def probe_result(proc: subprocess.Popen) -> tuple[float, float]:
    """(median RTT through the delayed path, median RTT direct), in ms."""
    out, _ = proc.communicate(timeout=120)
    medians = json.loads(out)
    return medians[str(ECHO_PORT)], medians[str(ECHO_DIRECT_PORT)]


def start_echo(lab: WanLab, dc: str, host: str) -> subprocess.Popen:
    echo = subprocess.Popen(["ip", "netns", "exec", lab.dcs[dc].netns, sys.executable, "-c",
                             ECHO_SERVER, host, str(ECHO_PORT), str(ECHO_DIRECT_PORT)],
                            stdout=subprocess.PIPE, text=True)
    if echo.stdout.readline().strip() != "ready":
        raise RuntimeError("the echo server did not start")
    return echo


def scripts(keys: list[str], workdir: Path) -> dict[str, Path]:
    local = [h.kv_get("consul", k, stale=True) for k in keys]
    remote = [h.Req(r.method, r.path + "&dc=dc1") for r in local]
    return {"local": h.write_script(local, workdir / "local.lua"),
            "dc1": h.write_script(remote, workdir / "dc1.lua")}


def add_delay(lab: WanLab, ms: float, dc1_host: str) -> tuple[str, subprocess.Popen | None]:
    """Delay dc1's link by ``ms`` (netem), or where netem is missing, dc2's connections
    to dc1's RPC and (delayed) echo ports through one relay; returns which, and the
    relay."""
    if ms <= 0:
        return "none", None
    try:
        lab.delay("dc1", ms)
        return "netem", None
    except NetemUnavailable:
        return "relay", lab.relay("dc2", dc1_host, [8300, ECHO_PORT], ms)


def measure(delay: float, keys: list[str], connections: list[int], duration: int,
            rounds: int, workdir: Path) -> list[dict]:
    """One fresh federation (dc1 server; dc2 server + client) with ``delay`` on the link."""
    lab = WanLab(["dc1", "dc2"])
    echo = None
    try:
        dc1_host = lab.address("dc1")
        echo = start_echo(lab, "dc1", dc1_host)
        method, relay = add_delay(lab, delay, dc1_host)
        dc1 = lab.start_agent("dc1", host=dc1_host)
        dc2 = lab.start_agent("dc2", join_wan=[dc1.host])
        client = lab.start_agent("dc2", server=False, join=[dc2.host])
        wait_until(lambda: client.get("/v1/kv/x?dc=dc1", timeout=30).status == 404, 90,
                   "dc1 reachable from dc2's client")
        for i, key in enumerate(keys):
            for agent in (dc1, dc2):
                assert agent.put(f"/v1/kv/{key}", h.bench_value(i)).status == 200
        url = f"http://{client.host}:{client.port}"
        paths = scripts(keys, workdir)
        quiet = probe_result(probe(lab, "dc2", dc1.host))
        steps = []
        for c in connections:
            samples: list[tuple[float, float]] = []
            lateness: list[dict] = []
            runs: dict[str, list] = {name: [] for name in paths}
            for _ in range(rounds):  # interleaved, so both reads see the same load
                for name, script in paths.items():
                    remote = name == "dc1"
                    if remote:  # the link is measured while the WAN reads go
                        if relay is not None:
                            relay_stats(relay)
                        sampler = probe(lab, "dc2", dc1.host, seconds=duration)
                    runs[name].append(h.run_wrk(url, script, c, duration)[0])
                    if remote:
                        samples.append(probe_result(sampler))
                        if relay is not None:
                            lateness.append(relay_stats(relay))
                    time.sleep(0.5)
            delayed = statistics.median(d for d, _ in samples)
            direct = statistics.median(d for _, d in samples)
            step: dict = {
                "delay_ms": delay, "delay_by": method, "link_rtt_ms": delayed,
                "direct_rtt_ms": direct, "quiet_link_rtt_ms": quiet[0],
                "quiet_direct_rtt_ms": quiet[1],
                # what the relay's path adds beyond the delay it is asked for
                "relay_cost_ms": delayed - delay - direct if method == "relay" else 0.0,
                "relay_late_p50_ms": _median(s["late_p50_ms"] for s in lateness),
                "relay_late_p99_ms": _median(s["late_p99_ms"] for s in lateness),
                "connections": c, "rounds": rounds}
            for name, results in runs.items():
                step[name] = {
                    "rps": statistics.median(r.ok_rps for r in results),
                    "p50_ms": statistics.median(r.p50_ms for r in results),
                    "p99_ms": statistics.median(r.p99_ms for r in results),
                    "p50s_ms": [r.p50_ms for r in results],
                    "problems": [p for r in results for p in r.problems()]}
            step["added_p50_ms"] = step["dc1"]["p50_ms"] - step["local"]["p50_ms"]
            # measured - link RTT - relay's own cost: link_rtt_ms is direct + delay + relay
            step["overhead_p50_ms"] = step["added_p50_ms"] - delayed
            steps.append(step)
        return steps
    finally:
        if echo is not None:
            echo.kill()
            echo.wait()
        lab.close()


def _median(values) -> float:
    values = list(values)
    return statistics.median(values) if values else 0.0


def main(argv=None) -> int:
    args = parse_args(argv)
    duration = 2 if args.quick else args.duration
    delays = [float(d) for d in args.delays.split(",")]
    connections = [int(c) for c in args.connections.split(",")]
    keys = h.bench_keys(args.keys)
    results: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for delay in delays:
            results += measure(delay, keys, connections, duration, args.rounds, Path(tmp))
    rows = [[f"{s['delay_ms']:g} ms ({s['delay_by']})", f"{s['direct_rtt_ms']:.3f}",
             f"{s['relay_cost_ms']:.3f}", f"{s['relay_late_p50_ms']:.3f}",
             str(s["connections"]), h.fmt_ms(s["local"]["p50_ms"]),
             h.fmt_ms(s["dc1"]["p50_ms"]), h.fmt_ms(s["dc1"]["p99_ms"]),
             h.fmt_ops(s["local"]["rps"]), h.fmt_ops(s["dc1"]["rps"]),
             f"{s['added_p50_ms']:.2f}", f"{s['overhead_p50_ms']:.2f}"] for s in results]
    h.print_table(rows, ["delay", "direct RTT ms", "relay cost ms", "relay late p50 ms", "c",
                         "local p50", "?dc=dc1 p50", "?dc=dc1 p99", "local ops/s",
                         "?dc=dc1 ops/s", "added p50 ms", "minus RTT+relay ms"])
    at_c1 = [s for s in results if s["connections"] == 1]
    worst = max((s["overhead_p50_ms"] for s in at_c1), default=0.0)
    print(f"target: added p50 at most link RTT + relay cost + {TARGET_OVERHEAD_MS} ms at c=1: "
          f"{'met' if worst <= TARGET_OVERHEAD_MS else 'MISSED'} (worst {worst:.2f} ms)")
    for problem in [p for s in results for k in ("local", "dc1") for p in s[k]["problems"]]:
        print(f"warning: {problem}")
    path = h.write_json({"machine": h.machine_info(), "duration_s": duration,
                         "results": results}, "wan_bench")
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    h.install_cleanup()
    sys.exit(main())
