"""The built-in proxy's cost: one HTTP request through web's upstream listener, web's
proxy, mTLS, api's proxy to the api app, against the same request sent to the app
directly.

    python bench/proxy_bench.py                 # 2000 sequential requests, wrk 5 s
    python bench/proxy_bench.py --quick         # 300 requests, wrk 2 s

It starts ``proconsul agent -dev``, a small keep-alive HTTP server (asyncio +
uvloop, a fixed 2-byte body) as the api app, registers api's and web's
connect-proxy services and runs ``proconsul connect proxy -proxy-id`` for each.
Latency: requests one after another on one kept-alive connection (and, for
the proxied path, also a new connection per request: TLS handshake plus
authorize). Throughput: ``wrk -t1 -c16`` for ``--duration`` seconds. Both paths
are printed side by side and written to bench/results/proxy_bench-*.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness  # noqa: E402

APP = r"""
import asyncio, sys, uvloop
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
class App(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buffer = transport, b""
    def data_received(self, data):
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            _, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            self.transport.write(RESPONSE)
async def main():
    server = await asyncio.get_running_loop().create_server(App, "127.0.0.1", int(sys.argv[1]))
    await server.serve_forever()
uvloop.run(main())
"""


def sequential(host: str, port: int, count: int, fresh: bool) -> list[float]:
    """Per-request latencies in ms: one kept-alive connection, or a new one each time."""
    times = []
    conn = None
    for _ in range(count):
        started = time.perf_counter()
        if conn is None:
            conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.request("GET", "/")
        reply = conn.getresponse()
        if reply.read() != b"ok":
            raise RuntimeError(f"unexpected reply {reply.status}")
        if fresh:
            conn.close()
            conn = None
        times.append((time.perf_counter() - started) * 1000)
    if conn is not None:
        conn.close()
    return times


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {"p50": statistics.median(ordered), "p99": ordered[int(len(ordered) * 0.99) - 1],
            "mean": statistics.fmean(ordered)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.duration = 300, 2
    harness.install_cleanup()
    work = Path(tempfile.mkdtemp(prefix="bench-proxy-"))
    cluster = harness.start_proconsul(label="proxy-bench")
    agent = harness.Http(cluster.url)
    app_port, api_public, web_public, upstream = harness.free_ports(4)
    harness.spawn([sys.executable, "-c", APP, str(app_port)], log_path=work / "app.log")
    harness._wait(lambda: _ok("127.0.0.1", app_port), "the app", 10)
    harness._wait(lambda: b"Roots" in agent.request("GET", "/v1/connect/ca/roots")[1]
                  and b"RootCert" in agent.request("GET", "/v1/connect/ca/roots")[1],
                  "CA roots", 20)
    for proxy_id, service, public, upstreams in (
            ("api-proxy", "api", api_public, []),
            ("web-proxy", "web", web_public, [{"DestinationName": "api",
                                               "LocalBindPort": upstream}])):
        body = (f'{{"Kind": "connect-proxy", "ID": "{proxy_id}", "Name": "{proxy_id}", '
                f'"Address": "127.0.0.1", "Port": {public}, "Proxy": {{'
                f'"DestinationServiceName": "{service}", "LocalServicePort": {app_port}, '
                f'"Upstreams": {json.dumps(upstreams)}}}}}').encode()
        status, text = agent.request("PUT", "/v1/agent/service/register", body)
        if status != 200:
            raise RuntimeError(f"register {proxy_id}: {status} {text!r}")
        harness.spawn([*harness.default_proconsul_cmd(), "connect", "proxy", "-proxy-id",
                       proxy_id, "-http-addr", cluster.url],
                      log_path=work / f"{proxy_id}.log")
    harness._wait(lambda: _ok("127.0.0.1", upstream), "the proxied path", 30)
    sequential("127.0.0.1", upstream, 50, False)  # warm up both paths
    sequential("127.0.0.1", app_port, 50, False)
    direct = summary(sequential("127.0.0.1", app_port, args.requests, False))
    proxied = summary(sequential("127.0.0.1", upstream, args.requests, False))
    fresh = summary(sequential("127.0.0.1", upstream, max(args.requests // 10, 50), True))
    script = harness.write_script([harness.Req("GET", "/")], work / "get.lua")
    wrk_direct, _ = harness.run_wrk(f"http://127.0.0.1:{app_port}", script,
                                    args.connections, args.duration)
    wrk_proxied, _ = harness.run_wrk(f"http://127.0.0.1:{upstream}", script,
                                     args.connections, args.duration)
    rows = [
        ["latency p50 (keep-alive)", f"{direct['p50']:.3f} ms", f"{proxied['p50']:.3f} ms",
         f"+{proxied['p50'] - direct['p50']:.3f} ms"],
        ["latency p99 (keep-alive)", f"{direct['p99']:.3f} ms", f"{proxied['p99']:.3f} ms",
         f"+{proxied['p99'] - direct['p99']:.3f} ms"],
        ["latency p50 (new connection)", "", f"{fresh['p50']:.3f} ms", ""],
        [f"throughput wrk -c{args.connections}", f"{wrk_direct.rps:,.0f} req/s",
         f"{wrk_proxied.rps:,.0f} req/s", f"{wrk_proxied.rps / wrk_direct.rps:.0%} of direct"],
        [f"wrk p99 -c{args.connections}", f"{wrk_direct.latency_ms['99']:.2f} ms",
         f"{wrk_proxied.latency_ms['99']:.2f} ms", ""],
    ]
    harness.print_table(rows, ["measure", "direct", "through 2 proxies", "difference"])
    path = harness.write_json({
        "requests": args.requests, "duration_s": args.duration,
        "connections": args.connections, "machine": harness.machine_info(),
        "direct": direct, "proxied": proxied, "proxied_new_connection": fresh,
        "wrk_direct": {"rps": wrk_direct.rps, "latency_ms": wrk_direct.latency_ms},
        "wrk_proxied": {"rps": wrk_proxied.rps, "latency_ms": wrk_proxied.latency_ms},
    }, "proxy_bench")
    print(f"results: {path}")
    harness.stop_all()
    return 0


def _ok(host: str, port: int) -> bool:
    try:
        return sequential(host, port, 1, True) is not None
    except (OSError, http.client.HTTPException, RuntimeError):
        return False


if __name__ == "__main__":
    sys.exit(main())
