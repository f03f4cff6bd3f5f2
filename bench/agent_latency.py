"""How fast the agent's local changes show up (the agent issue's figures).

Against one ``proconsul agent -dev``, repeated ``--rounds`` times:

- register: ``PUT /v1/agent/service/register`` until a blocking
  ``/v1/health/service/<name>?index=`` (already waiting) returns the instance;
- ttl: a TTL check passed once, until the agent reports it critical, minus the TTL;
- hash: a change to a service until a waiting ``/v1/agent/service/<id>?hash=`` returns.

Prints p50 / p99 / max in milliseconds for each.

    python bench/agent_latency.py --rounds 50
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time

from harness import Http, install_cleanup, start_proconsul


def blocking(http_url: str, path: str, out: dict) -> threading.Thread:
    def run() -> None:
        client = Http(http_url, timeout=60)
        status, body = client.request("GET", path)
        out["at"] = time.perf_counter()
        out["body"] = json.loads(body) if body else None
        client.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def settle(client: Http, path: str) -> int:
    status, body = client.request("GET", path)
    return int(client.last_headers.get("X-Consul-Index", "1")) if status == 200 else 1


def register_latency(url: str, client: Http, i: int) -> float:
    name = f"lat-{i}"
    index = settle(client, f"/v1/health/service/{name}")
    out: dict = {}
    thread = blocking(url, f"/v1/health/service/{name}?index={index}&wait=30s", out)
    time.sleep(0.05)  # let the blocking read reach the agent before the write
    start = time.perf_counter()
    client.request("PUT", "/v1/agent/service/register",
                   json.dumps({"Name": name, "Port": 1}).encode())
    thread.join()
    assert out["body"], "blocking read returned without the instance"
    return out["at"] - start


def ttl_latency(client: Http, i: int, ttl: float = 1.0) -> float:
    check = f"ttl-{i}"
    client.request("PUT", "/v1/agent/check/register",
                   json.dumps({"Name": check, "TTL": f"{int(ttl * 1000)}ms"}).encode())
    client.request("PUT", f"/v1/agent/check/pass/{check}")
    passed = time.perf_counter()
    while True:
        _, body = client.request("GET", "/v1/agent/checks")
        if json.loads(body)[check]["Status"] == "critical":
            seen = time.perf_counter()
            break
        time.sleep(0.002)
    client.request("PUT", f"/v1/agent/check/deregister/{check}")
    return max(0.0, seen - passed - ttl)


def hash_latency(url: str, client: Http, i: int) -> float:
    client.request("PUT", "/v1/agent/service/register",
                   json.dumps({"Name": "hashed", "Port": i}).encode())
    client.request("GET", "/v1/agent/service/hashed")
    digest = client.last_headers["X-Consul-ContentHash"]
    out: dict = {}
    thread = blocking(url, f"/v1/agent/service/hashed?hash={digest}&wait=30s", out)
    time.sleep(0.05)
    start = time.perf_counter()
    client.request("PUT", "/v1/agent/service/register",
                   json.dumps({"Name": "hashed", "Port": i + 100000}).encode())
    thread.join()
    return out["at"] - start


def summary(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"p50 {statistics.median(ms):7.2f}  p99 {p99:7.2f}  max {ms[-1]:7.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    install_cleanup()
    cluster = start_proconsul(dev=True, label="latency")
    try:
        client = Http(cluster.url, timeout=60)
        results = {
            "register -> health (ms)": [register_latency(cluster.url, client, i)
                                        for i in range(args.rounds)],
            "TTL expiry -> critical, beyond TTL (ms)": [ttl_latency(client, i)
                                                       for i in range(min(args.rounds, 10))],
            "hash blocking wake (ms)": [hash_latency(cluster.url, client, i)
                                        for i in range(args.rounds)],
        }
        for label, samples in results.items():
            print(f"{label:42s} {summary(samples)}")
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
