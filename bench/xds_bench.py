"""xDS fan-out: N simulated proxies (delta ADS clients), one endpoint change, time to all.

Starts ``proconsul agent -dev`` with a gRPC port, registers 10 upstream services
(``u0``..``u9``, each one instance with a connect sidecar on a catalog node) and
N sidecar proxies of ``app`` on the agent, each with the 10 upstreams. One
client process opens N delta ADS streams (``node.id`` = the proxy ID), follows
Envoy's protocol (wildcard CDS/LDS, EDS by name, ACK every response) and waits
until every stream holds the endpoints of all 10 upstreams. Then ``u0``'s
sidecar moves to another port and the bench times, per stream, from the catalog
write to the EDS response carrying the new port: p50/p99/max, plus the agent's
RSS (current and peak). Beside it, one real Envoy (``proconsul connect envoy``)
with the same upstreams is timed for the same change, polling its admin
``/clusters`` until the new endpoint shows.

    python bench/xds_bench.py --proxies 1000
    python bench/xds_bench.py --proxies 50 --no-envoy     # smoke test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import grpc  # noqa: E402
from envoy.config.endpoint.v3 import endpoint_pb2  # noqa: E402
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2  # noqa: E402
from harness import (  # noqa: E402
    Http,
    free_ports,
    install_cleanup,
    spawn,
    start_proconsul,
    stop,
)

CDS = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
EDS = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
LDS = "type.googleapis.com/envoy.config.listener.v3.Listener"
RDS = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
UPSTREAMS = 10
WAIT = float(os.environ.get("XDS_BENCH_WAIT", "600"))


class Proxy:
    """One simulated Envoy: a delta ADS stream that ACKs everything and records EDS."""

    def __init__(self, proxy_id: str) -> None:
        self.proxy_id = proxy_id
        self.ports: dict[str, set[int]] = {}  # cluster -> endpoint ports
        self.subscribed: set[str] = set()
        self.queue: asyncio.Queue = asyncio.Queue()
        self.synced = asyncio.Event()
        self.watch: tuple[str, int] | None = None  # (cluster, port) awaited
        self.seen_at: float | None = None
        self.error: str = ""

    async def run(self, stub) -> None:
        node = {"id": self.proxy_id, "cluster": "app", "user_agent_name": "envoy"}
        for type_url in (CDS, LDS):
            self.queue.put_nowait(discovery_pb2.DeltaDiscoveryRequest(
                type_url=type_url, node=node if type_url == CDS else None))

        async def requests():
            while True:
                yield await self.queue.get()

        try:
            async for resp in stub.DeltaAggregatedResources(requests()):
                self._on(resp)
        except grpc.aio.AioRpcError as err:
            self.error = f"{err.code().name}: {err.details()}"
            self.synced.set()

    def _on(self, resp) -> None:
        ack = discovery_pb2.DeltaDiscoveryRequest(type_url=resp.type_url,
                                                  response_nonce=resp.nonce)
        self.queue.put_nowait(ack)
        if resp.type_url == CDS:  # Envoy asks for the endpoints of new EDS clusters
            new = [r.name for r in resp.resources
                   if r.name != "local_app" and r.name not in self.subscribed]
            self.subscribed.update(new)
            if new:
                self.queue.put_nowait(discovery_pb2.DeltaDiscoveryRequest(
                    type_url=EDS, resource_names_subscribe=new))
        elif resp.type_url == EDS:
            for r in resp.resources:
                cla = endpoint_pb2.ClusterLoadAssignment.FromString(r.resource.value)
                self.ports[r.name] = {e.endpoint.address.socket_address.port_value
                                      for group in cla.endpoints for e in group.lb_endpoints}
            if len(self.ports) >= UPSTREAMS and all(self.ports.values()):
                self.synced.set()
            if self.watch and self.seen_at is None and \
                    self.watch[1] in self.ports.get(self.watch[0], ()):
                self.seen_at = time.perf_counter()


def register(http: Http, node_port_base: int) -> None:
    for i in range(UPSTREAMS):
        move_upstream(http, i, node_port_base + i)


def move_upstream(http: Http, i: int, port: int) -> None:
    body = {"Node": f"node-u{i}", "Address": f"10.0.{i}.1", "Service": {
        "ID": f"u{i}-sidecar-proxy", "Service": f"u{i}-sidecar-proxy", "Kind": "connect-proxy",
        "Port": port, "Proxy": {"DestinationServiceName": f"u{i}", "LocalServicePort": 8080}}}
    status, text = http.request("PUT", "/v1/catalog/register", json.dumps(body).encode())[:2]
    assert status == 200, text


def register_proxy(http: Http, proxy_id: str, port: int) -> None:
    body = {"ID": proxy_id, "Name": "app-sidecar-proxy", "Kind": "connect-proxy", "Port": port,
            "Address": "127.0.0.1", "Proxy": {
                "DestinationServiceName": "app", "LocalServicePort": 8080,
                "Upstreams": [{"DestinationName": f"u{i}", "LocalBindPort": 20000 + i}
                              for i in range(UPSTREAMS)]}}
    status, text = http.request("PUT", "/v1/agent/service/register",
                                json.dumps(body).encode())[:2]
    assert status == 200, f"{proxy_id}: {text}"


def cpu_ms(pid: int) -> float:
    """The process's user+system CPU time so far, in ms."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> tuple[float, float]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text()
                  .splitlines() if ":" in line)
    return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)


async def simulate(grpc_addr: str, n: int, http: Http, new_port: int, channels: int,
                   pid: int):
    chans = [grpc.aio.insecure_channel(grpc_addr, options=[
        ("grpc.max_receive_message_length", 64 << 20)]) for _ in range(channels)]
    proxies = [Proxy(f"p{i}") for i in range(n)]
    tasks = [asyncio.create_task(p.run(ads_pb2_grpc.AggregatedDiscoveryServiceStub(
        chans[i % channels]))) for i, p in enumerate(proxies)]
    t0 = time.perf_counter()
    try:
        await asyncio.wait_for(asyncio.gather(*(p.synced.wait() for p in proxies)), WAIT)
    except TimeoutError:
        raise SystemExit(f"streams not synced: {proxies[0].ports}") from None
    errors = [p.error for p in proxies if p.error]
    if errors:
        raise SystemExit(f"{len(errors)} streams failed, e.g. {errors[0]}")
    sync_s = time.perf_counter() - t0
    target = next(name for name in proxies[0].ports if name.startswith("u0."))
    for p in proxies:
        p.watch = (target, new_port)
    cpu_before = cpu_ms(pid)
    start = time.perf_counter()
    await asyncio.get_running_loop().run_in_executor(None, move_upstream, http, 0, new_port)
    await asyncio.wait_for(_all_seen(proxies), 120)
    cpu = cpu_ms(pid) - cpu_before
    lat = sorted((p.seen_at - start) * 1000 for p in proxies)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for c in chans:
        await c.close()
    return sync_s, lat, cpu


async def _all_seen(proxies) -> None:
    while any(p.seen_at is None for p in proxies):
        await asyncio.sleep(0.005)


def real_envoy(http: Http, host: str, grpc_port: int, http_url: str, new_port: int,
               workdir: str) -> float | None:
    """ms from the catalog write until one real Envoy lists the new endpoint."""
    envoy = shutil.which("envoy") or str(Path(sys.executable).with_name("envoy"))
    if not os.path.exists(envoy):
        return None
    register_proxy(http, "real-envoy", free_ports(1, host)[0])
    admin = free_ports(1, host)[0]
    proc = spawn([sys.executable, "-m", "proconsul", "connect", "envoy", "-proxy-id",
                  "real-envoy", "-admin-bind", f"{host}:{admin}", "-grpc-addr",
                  f"http://{host}:{grpc_port}", "-http-addr", http_url, "--",
                  "--concurrency", "1", "--log-level", "warn"],
                 log_path=os.path.join(workdir, "envoy.log"),
                 env={**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep
                      + os.environ.get("PATH", "")})
    admin_http = Http(f"http://{host}:{admin}")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if admin_http.request("GET", "/clusters")[1].decode().count(
                        ":hostname::") >= UPSTREAMS:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        else:
            return None
        start = time.perf_counter()
        move_upstream(http, 0, new_port)
        needle = f":{new_port}::health_flags::healthy"
        while time.perf_counter() - start < 30:
            if needle in admin_http.request("GET", "/clusters")[1].decode():
                return (time.perf_counter() - start) * 1000
            time.sleep(0.002)
        return None
    finally:
        stop(proc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--proxies", type=int, default=1000)
    ap.add_argument("--channels", type=int, default=8, help="gRPC connections to spread over")
    ap.add_argument("--no-envoy", action="store_true", help="skip the real Envoy comparison")
    args = ap.parse_args()
    install_cleanup()
    grpc_port = free_ports(1)[0]
    cluster = start_proconsul(extra_args=["-grpc-port", str(grpc_port), "-dns-port", "-1"],
                              label="xds")
    http = Http(cluster.url)
    pid = cluster.procs[0].pid
    try:
        while not json.loads(http.request("GET", "/v1/connect/ca/roots")[1] or "{}").get(
                "Roots"):
            time.sleep(0.1)
        register(http, 30000)
        t0 = time.perf_counter()
        for i in range(args.proxies):
            register_proxy(http, f"p{i}", 21000 + i % 40000)
        reg_s = time.perf_counter() - t0
        rss_before = rss_mb(pid)
        sync_s, lat, cpu = asyncio.run(simulate(f"127.0.0.1:{grpc_port}", args.proxies, http,
                                                31000, args.channels, pid))
        rss_now, rss_peak = rss_mb(pid)
        p50 = statistics.median(lat)
        p99 = lat[max(0, int(len(lat) * 0.99) - 1)]
        envoy_ms = None if args.no_envoy else real_envoy(
            http, "127.0.0.1", grpc_port, cluster.url, 32000, cluster.workdir or "/tmp")
        print(f"proxies {args.proxies} x {UPSTREAMS} upstreams on one -dev agent "
              f"({args.channels} gRPC connections)")
        print(f"  register {reg_s:.1f} s; initial sync of all streams {sync_s:.1f} s")
        print(f"  endpoint change -> every proxy: p50 {p50:.0f} ms  p99 {p99:.0f} ms  "
              f"max {lat[-1]:.0f} ms   (target p99 < 1000 ms)")
        print(f"  agent CPU spent on that change (write + fan-out): {cpu:.0f} ms")
        print(f"  agent RSS {rss_before[0]:.0f} MB before streams, {rss_now:.0f} MB after, "
              f"peak {rss_peak:.0f} MB   (target < 1024 MB)")
        print("  one real Envoy, same change: " + (f"{envoy_ms:.0f} ms" if envoy_ms is not None
                                                   else "not measured"))
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
