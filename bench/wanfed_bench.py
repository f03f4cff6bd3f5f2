"""WAN federation through mesh gateways against the direct WAN path, same run.

    python bench/wanfed_bench.py                  # 2000 reads per path, 3 rounds
    python bench/wanfed_bench.py --quick          # 300 reads, 1 round (smoke test)
    python bench/wanfed_bench.py --reads 5000 --rounds 5
    python bench/wanfed_bench.py --netns          # real Envoy gateways, network namespaces

Two federations of single-server datacenters on 127.0.0.x (tests/support/wanfed_lab.py):
*direct* (dc2 joins dc1 with ``-retry-join-wan``; forwarded RPC and WAN gossip go
server to server) and *gateways* (every server has
``connect.enable_mesh_gateway_wan_federation``; dc2 knows only ``primary_gateways``;
an SNI relay stands in for each datacenter's mesh gateway, routing by SNI without
terminating TLS).  Reported per path:

- WAN convergence: seconds from starting dc2's server until both servers list each
  other alive in ``members -wan``;
- cross-DC RPC: sequential stale KV reads ``GET /v1/kv/<key>?dc=dc1&stale`` on dc2's
  server over one keep-alive HTTP connection (HTTP -> dc2 server -> forwarded RPC ->
  dc1 server), p50/p99; a local read of dc2 alongside gives the HTTP floor.  Rounds
  interleave the two paths so both see the same machine load; each figure is the
  median over rounds.  The target: the gateway path adds < 2 ms at p50 over direct.

Nothing here needs root.  The relay is a Python asyncio process thread, not Envoy.
With ``--netns`` (root) both federations run in network namespaces instead
(tests/support/netns.py): *direct* as above, and *gateways* with a real Envoy mesh
gateway per datacenter (``connect envoy -gateway=mesh -register -expose-servers``)
behind a WAN that passes only the gateways' ports (tests/support/gateway_federation.py;
TLS and ACLs on, default allow; the direct path gets the same ACLs); dc2's convergence
time then includes starting its gateway, which dc1's gossip to dc2 needs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import harness as h  # noqa: E402

from tests.support.agent_process import AgentProcess, wait_until  # noqa: E402
from tests.support.datacenters import FAST, wan_alive  # noqa: E402
from tests.support.envoy import EnvoyGroup  # noqa: E402
from tests.support.gateway_federation import ACL, WanFed  # noqa: E402
from tests.support.netns import WanLab  # noqa: E402
from tests.support.wanfed_lab import Federation, converged  # noqa: E402

TARGET_ADDED_P50_MS = 2.0
KEY = "bench/wanfed"


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def start(kind: str, base: Path) -> tuple[Federation, float]:
    """dc1 then dc2 on 127.0.0.x; the seconds from starting dc2 until the WAN pool
    converged."""
    (base / kind).mkdir()
    fed = Federation(base / kind, gateways=kind == "gateways")
    dc1 = fed.add("dc1")
    assert dc1.server.put(f"/v1/kv/{KEY}", "v").status == 200
    began = time.monotonic()
    dc2 = fed.add("dc2")
    wait_until(lambda: converged([dc1, dc2]), 120, f"{kind}: WAN convergence")
    took = time.monotonic() - began
    wait_until(lambda: dc2.server.get(f"/v1/kv/{KEY}?dc=dc1&stale").status == 200, 60,
               f"{kind}: ?dc=dc1 from dc2")
    return fed, took


def start_netns(kind: str, base: Path) -> tuple[Callable[[], None], AgentProcess, float]:
    """dc1 then dc2 in network namespaces (with Envoy gateways behind the wall for
    ``gateways``); what removes it all, dc2's server and the seconds from starting dc2
    until both servers saw each other alive in the WAN pool."""
    lab = WanLab(["dc1", "dc2"])
    envoys = EnvoyGroup()

    def close() -> None:
        envoys.stop_all()
        lab.close()

    try:
        if kind == "gateways":
            (base / kind).mkdir()
            fed = WanFed(lab, base / kind)
            envoys = fed.envoys
            fed.add("dc1", 1)
            assert fed.servers["dc1"][0].put(f"/v1/kv/{KEY}", "v").status == 200
            took = fed.add("dc2", 1)
            dc2 = fed.servers["dc2"][0]
        else:
            same = (*FAST, "-hcl", ACL, "-hcl", 'primary_datacenter = "dc1"')  # as gateways'
            dc1 = lab.start_agent("dc1", *same)
            wait_until(lambda: dc1.put(f"/v1/kv/{KEY}", "v").status == 200, 60, "dc1's leader")
            began = time.monotonic()
            dc2 = lab.start_agent("dc2", *same, join_wan=[dc1.host])
            for agent in (dc1, dc2):
                wait_until(lambda a=agent: len(wan_alive(a)) == 2, 120, "WAN convergence")
            took = time.monotonic() - began
        wait_until(lambda: dc2.get(f"/v1/kv/{KEY}?dc=dc1&stale").status == 200, 60,
                   f"{kind}: ?dc=dc1 from dc2")
    except BaseException:
        close()
        raise
    return close, dc2, took


def reads(server: AgentProcess, path: str, n: int) -> list[float]:
    """``n`` sequential GETs of ``path`` on dc2's server; latencies in ms."""
    http = h.Http(f"http://{server.host}:{server.port}", timeout=30)
    out = []
    try:
        for _ in range(20):  # warm the connection and the gateway session
            http.request("GET", path)
        for _ in range(n):
            t0 = time.perf_counter()
            status, _ = http.request("GET", path)
            out.append((time.perf_counter() - t0) * 1000)
            if status not in (200, 404):
                raise RuntimeError(f"GET {path}: {status}")
    finally:
        http.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--netns", action="store_true",
                        help="network namespaces and real Envoy gateways (root)")
    args = parser.parse_args()
    if args.quick:
        args.reads, args.rounds = 300, 1
    remote = f"/v1/kv/{KEY}?dc=dc1&stale"
    local = f"/v1/kv/{KEY}?stale"
    figures: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="wanfed-bench-") as tmp:
        base = Path(tmp)
        closers, dc2s = [], {}
        try:
            for kind in ("direct", "gateways"):
                if args.netns:
                    close, dc2s[kind], took = start_netns(kind, base)
                else:
                    fed, took = start(kind, base)
                    close, dc2s[kind] = fed.close, fed.dcs["dc2"].server
                closers.append(close)
                figures[kind] = {"convergence_s": round(took, 3), "p50": [], "p99": [],
                                 "local_p50": []}
            for _ in range(args.rounds):
                for kind, server in dc2s.items():
                    lat = reads(server, remote, args.reads)
                    floor = reads(server, local, max(100, args.reads // 5))
                    figures[kind]["p50"].append(percentile(lat, 0.5))
                    figures[kind]["p99"].append(percentile(lat, 0.99))
                    figures[kind]["local_p50"].append(percentile(floor, 0.5))
        finally:
            for close in closers:
                close()
    summary = {kind: {"convergence_s": f["convergence_s"],
                      "rpc_p50_ms": round(statistics.median(f["p50"]), 3),
                      "rpc_p99_ms": round(statistics.median(f["p99"]), 3),
                      "local_p50_ms": round(statistics.median(f["local_p50"]), 3)}
               for kind, f in figures.items()}
    added = summary["gateways"]["rpc_p50_ms"] - summary["direct"]["rpc_p50_ms"]
    summary["added_p50_ms"] = round(added, 3)
    summary["load_avg"] = round(os.getloadavg()[0], 1)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        where = "network namespaces, Envoy gateways" if args.netns else \
            "127.0.0.x, SNI-relay gateways"
        print(f"{where}; load average {summary['load_avg']}; {args.reads} reads x "
              f"{args.rounds} round(s) per path")
        print(f"{'path':<10} {'WAN convergence':>16} {'?dc=dc1 p50':>12} {'p99':>9} "
              f"{'local p50':>10}")
        for kind in ("direct", "gateways"):
            s = summary[kind]
            print(f"{kind:<10} {s['convergence_s']:>15.2f}s {s['rpc_p50_ms']:>10.3f}ms "
                  f"{s['rpc_p99_ms']:>7.3f}ms {s['local_p50_ms']:>8.3f}ms")
        verdict = "within" if added < TARGET_ADDED_P50_MS else "OVER"
        print(f"gateways add {added:.3f} ms at p50 ({verdict} the {TARGET_ADDED_P50_MS} ms "
              f"target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
