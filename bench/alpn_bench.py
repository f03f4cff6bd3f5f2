"""RPC latency on one server port: TLS by the type byte (3, then yamux) against native
TLS + ALPN (``consul/rpc-multi``, SNI ``server.dc1.consul``, as a server of another
DC sends through a mesh gateway), in the same run, alternating, on one server.

Each way keeps one session open (as the pools do) and makes ``--calls`` sequential
``Status.Ping`` calls after a warm-up; p50/p99/mean in microseconds, plus the
cost of a fresh connection (dial + handshake + first call) for each, over
``--dials`` dials.

    python bench/alpn_bench.py --calls 5000 --dials 100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import install_cleanup, start_proconsul  # noqa: E402

from proconsul.rpc.gateway import GatewayPool  # noqa: E402
from proconsul.rpc.pool import MuxPool  # noqa: E402
from tests.support.certs import write_test_pki  # noqa: E402

NAME = "server.dc1.consul"


def context_factory(pki: Path):
    def make() -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(pki / "ca.pem"))
        ctx.load_cert_chain(str(pki / "client.pem"))
        return ctx

    return make


def summary(samples: list[float]) -> dict:
    ordered = sorted(samples)
    micros = [s * 1e6 for s in ordered]
    return {"n": len(micros), "p50_us": round(micros[len(micros) // 2], 1),
            "p99_us": round(micros[int(len(micros) * 0.99) - 1], 1),
            "mean_us": round(statistics.fmean(micros), 1)}


def byte3_pool(pki: Path) -> MuxPool:
    return MuxPool(tls=context_factory(pki)(), server_name=NAME)


async def ping(pool, address: str) -> None:
    if isinstance(pool, GatewayPool):
        await pool.call(address, "dc1", "Status.Ping", None, bool)
    else:
        await pool.call(address, "Status.Ping", None, bool)


async def run(address: str, pki: Path, calls: int, dials: int) -> dict:
    pools = {"tls_byte3": byte3_pool(pki), "alpn_rpc_multi": GatewayPool(context_factory(pki))}
    times: dict[str, list[float]] = {name: [] for name in pools}
    for pool in pools.values():
        for _ in range(200):
            await ping(pool, address)
    for _ in range(calls):
        for name, pool in pools.items():  # alternate: both see the same machine load
            start = time.perf_counter()
            await ping(pool, address)
            times[name].append(time.perf_counter() - start)
    for pool in pools.values():
        await pool.close()
    fresh: dict[str, list[float]] = {name: [] for name in pools}
    for _ in range(dials):
        for name in pools:
            pool = byte3_pool(pki) if name == "tls_byte3" else GatewayPool(context_factory(pki))
            start = time.perf_counter()
            await ping(pool, address)
            fresh[name].append(time.perf_counter() - start)
            await pool.close()
    return {"sequential_call": {name: summary(t) for name, t in times.items()},
            "fresh_connection": {name: summary(t) for name, t in fresh.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--dials", type=int, default=100)
    args = parser.parse_args()
    install_cleanup()
    pki = write_test_pki(Path(tempfile.mkdtemp(prefix="bench-alpn-pki-")), NAME)
    pem = pki / "server.pem"
    hcl = (f'tls {{ defaults {{ ca_file = "{pki / "ca.pem"}" cert_file = "{pem}" '
           f'key_file = "{pem}" verify_incoming = true }} }}')
    cluster = start_proconsul(dev=False, servers=1, extra_args=["-hcl", hcl], label="alpn")
    try:
        result = asyncio.run(run(cluster.info["server_rpc"][0], pki, args.calls, args.dials))
    finally:
        cluster.stop()
    print(json.dumps({"bench": "rpc latency: TLS type byte vs native TLS + ALPN",
                      "server": "one durable proconsul server, tls verify_incoming", **result}, indent=1))


if __name__ == "__main__":
    main()
