"""Connect leaves end to end: ConnectCA.Sign through a server, and
/v1/agent/connect/ca/leaf/:service latency on a real agent.

- sign: an in-process server (connect on, ``CSRMaxPerSecond = 0``) signs
  ``--csrs`` distinct service CSRs through ``ConnectCA.Sign`` (CSR checks,
  serials reserved through raft in blocks); prints signatures/s.
- leaf: a ``proconsul agent -dev`` with ``csr_max_per_second = 0``; one
  ``GET /v1/agent/connect/ca/leaf/<svc>`` for each of ``--services`` distinct
  services (a cache miss: key, CSR, Sign), then once more each (a hit); prints
  p50 / p99 / max in milliseconds.

    python bench/connect_leaf_bench.py --csrs 1000 --services 1000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import Http, install_cleanup, start_proconsul  # noqa: E402

from proconsul.agent.connect.csr import LeafRequest, make_leaf_csr  # noqa: E402
from proconsul.server.server import Server, ServerConfig  # noqa: E402
from proconsul.structs.connect import CASignRequest  # noqa: E402


async def sign_rate(csrs: int) -> float:
    server = Server(ServerConfig(connect_enabled=True, ca_config={"CSRMaxPerSecond": 0}))
    server.start()
    await server.ca.initialize()
    trust_domain = f"{server.store.ca_config.ClusterID}.consul"
    pems = [make_leaf_csr(LeafRequest(datacenter="dc1", service=f"s{i}"), trust_domain)[0]
            for i in range(csrs)]
    start = time.perf_counter()
    for pem in pems:
        await server.rpc("ConnectCA.Sign", CASignRequest(CSR=pem))
    rate = csrs / (time.perf_counter() - start)
    await server.stop()
    return rate


def leaf_latencies(services: int) -> tuple[list[float], list[float]]:
    cluster = start_proconsul(dev=True, label="leaf", extra_args=[
        "-hcl", "connect { ca_config { csr_max_per_second = 0 } }"])
    try:
        client = Http(cluster.url, timeout=60)
        passes = []
        for _ in range(2):
            took = []
            for i in range(services):
                start = time.perf_counter()
                status, _ = client.request("GET", f"/v1/agent/connect/ca/leaf/svc{i}")
                took.append((time.perf_counter() - start) * 1000)
                assert status == 200, status
            passes.append(took)
        return passes[0], passes[1]
    finally:
        cluster.stop()


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (f"p50 {statistics.median(ordered):7.2f}  p99 {p99:7.2f}  "
            f"max {ordered[-1]:7.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csrs", type=int, default=1000)
    parser.add_argument("--services", type=int, default=1000)
    args = parser.parse_args()
    install_cleanup()
    print(f"ConnectCA.Sign, one in-process server, {args.csrs} CSRs: "
          f"{asyncio.run(sign_rate(args.csrs)):.0f} signatures/s")
    miss, hit = leaf_latencies(args.services)
    print(f"leaf, {args.services} distinct services, first read (miss): {summary(miss)}")
    print(f"leaf, {args.services} distinct services, second read (hit): {summary(hit)}")


if __name__ == "__main__":
    main()
