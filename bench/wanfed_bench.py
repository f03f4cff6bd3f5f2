"""WAN federation through mesh gateways against the direct WAN path, same run.

    python bench/wanfed_bench.py                  # 2000 reads per path, 3 rounds
    python bench/wanfed_bench.py --quick          # 300 reads, 1 round (smoke test)
    python bench/wanfed_bench.py --reads 5000 --rounds 5

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

Nothing here needs root.  The relay is a Python asyncio process thread, not Envoy;
the ``fedtest`` harness may point this at real Envoy gateways later.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import harness as h  # noqa: E402

from tests.support.agent_process import wait_until  # noqa: E402
from tests.support.wanfed_lab import Federation, converged  # noqa: E402

TARGET_ADDED_P50_MS = 2.0
KEY = "bench/wanfed"


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def start(kind: str, base: Path) -> tuple[Federation, float]:
    """dc1 then dc2; the seconds from starting dc2 until the WAN pool converged."""
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


def reads(fed: Federation, path: str, n: int) -> list[float]:
    """``n`` sequential GETs of ``path`` on dc2's server; latencies in ms."""
    server = fed.dcs["dc2"].server
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
    args = parser.parse_args()
    if args.quick:
        args.reads, args.rounds = 300, 1
    remote = f"/v1/kv/{KEY}?dc=dc1&stale"
    local = f"/v1/kv/{KEY}?stale"
    figures: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="wanfed-bench-") as tmp:
        base = Path(tmp)
        feds = {}
        try:
            for kind in ("direct", "gateways"):
                feds[kind], took = start(kind, base)
                figures[kind] = {"convergence_s": round(took, 3), "p50": [], "p99": [],
                                 "local_p50": []}
            for _ in range(args.rounds):
                for kind, fed in feds.items():
                    lat = reads(fed, remote, args.reads)
                    floor = reads(fed, local, max(100, args.reads // 5))
                    figures[kind]["p50"].append(percentile(lat, 0.5))
                    figures[kind]["p99"].append(percentile(lat, 0.99))
                    figures[kind]["local_p50"].append(percentile(floor, 0.5))
        finally:
            for fed in feds.values():
                fed.close()
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
        print(f"load average {summary['load_avg']}; {args.reads} reads x {args.rounds} "
              f"round(s) per path")
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
