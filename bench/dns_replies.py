"""Are two revisions' DNS replies byte for byte the same? Same catalog, questions and seed.

    python bench/dns_replies.py --rev fabc18e --rev .

For each ``--rev`` (a git revision, ``.`` this checkout, or a directory) a child
process runs that revision's resolver in process (``tests/unit/dns/catalog.py``:
an agent with a real in-memory server, no sockets), registers a varied catalog
(tagged addresses, host names, node meta, warning/critical/maintenance checks,
weights, many instances) and asks ~100 questions (services A/AAAA/SRV/ANY/TXT
with and without tags, nodes, addr, reverse, SOA/NS, prepared-query-free
misses, malformed names) over UDP and TCP, with and without EDNS (and a client
subnet). Before each question the ``random`` module is seeded and the clock is
fixed, so shuffles and SOA serials repeat; each question is asked twice (the
cache miss, then the cached reply). The parent prints how many replies differ
between the first revision and each other one, and the first differences.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cpu_per_request as cpr  # noqa: E402

CHILD = r'''
import asyncio, json, random, sys, time
import dns.edns, dns.message
from tests.unit.dns.catalog import Catalog

async def main():
    cat = Catalog()
    await cat.agent.server.register_self()
    for i in range(12):
        await cat.instance(f"n{i}", f"10.0.0.{i + 1}", "web", Port=8000 + i, Tags=["v1"] if i % 2 else ["v2"],
                           status=("passing", "warning", "critical")[i % 3] if i < 9 else "passing",
                           Weights={"Passing": 5, "Warning": 2} if i % 4 == 0 else None)
    await cat.instance("h1", "10.0.1.1", "api", Address="api.example.com", Port=80)
    await cat.instance("h2", "10.0.1.2", "api", Address="10.9.0.2", Port=81,
                       TaggedAddresses={"lan_ipv4": {"Address": "10.9.1.2", "Port": 81},
                                        "lan_ipv6": {"Address": "2001:db8::2", "Port": 81}})
    await cat.instance("h3", "10.0.1.3", "api", Address="db.service.consul", Port=82)
    await cat.instance("h4", "2001:db8::4", "v6", Port=90)
    await cat.register(Node="h4", Address="2001:db8::4", NodeMeta={"rack": "r=1", "rfc1035-x": "y"})
    await cat.register(Node="h5", Address="node5.example.com")
    await cat.instance("d1", "10.0.2.1", "db", Port=5432)
    await cat.instance("m1", "10.0.3.1", "maint", Port=1)
    await cat.register(Node="m1", Address="10.0.3.1", Check={"CheckID": "_node_maintenance",
                       "Name": "maintenance", "Status": "critical"})
    for i in range(40):
        await cat.instance(f"big{i:02d}", f"10.1.{i // 200}.{i % 200 + 1}", "big", Port=i + 1)
    names = ["web.service.consul", "WEB.Service.Consul", "v1.web.service.consul",
             "_web._v2.service.consul", "_web._tcp.service.dc1.consul", "api.service.consul",
             "v6.service.consul", "db.service.consul", "maint.service.consul",
             "big.service.consul", "nope.service.consul", "n1.node.consul", "h4.node.dc1.consul",
             "h5.node.consul", "0a000001.addr.dc1.consul", "20010db8000000000000000000000004.addr.consul",
             "consul", "1.0.0.10.in-addr.arpa", "web.service.dc2.consul", "x.y.consul",
             "web.connect.consul", "q.query.consul", "virtual.consul"]
    types = ["A", "AAAA", "SRV", "ANY", "TXT", "SOA", "NS"]
    out = []
    time.time = lambda: 1_800_000_000.0
    for name in names:
        for rdtype in types:
            for tcp in (False, True):
                for edns in (None, 1232, 4096):
                    options = [dns.edns.ECSOption("192.0.2.0", 24)] if edns == 4096 else None
                    q = dns.message.make_query(name, rdtype, use_edns=edns is not None,
                                               payload=edns or 512, options=options)
                    q.id = 0x1234
                    wire = q.to_wire()
                    for _ in range(2):
                        random.seed(f"{name} {rdtype} {tcp} {edns}")
                        reply = await cat.send(wire, tcp)
                        out.append([f"{name} {rdtype} tcp={tcp} edns={edns}",
                                    reply.hex() if reply is not None else None])
    json.dump(out, sys.stdout)

asyncio.run(main())
'''


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rev", action="append", default=[], help="git revision, '.' or a directory")
    a = p.parse_args(argv)
    revs = a.rev or ["."]
    results = {}
    with tempfile.TemporaryDirectory(prefix="dns-replies-") as tmp:
        for rev in revs:
            tree = cpr.prepare_tree(rev, Path(tmp))
            env = dict(os.environ, PYTHONPATH=str(tree))
            proc = subprocess.run([sys.executable, "-P", "-c", CHILD], env=env, cwd=tree,
                                  capture_output=True, text=True, check=False)
            if proc.returncode:
                print(f"{rev}: failed\n{proc.stderr[-3000:]}", file=sys.stderr)
                return 1
            results[rev] = json.loads(proc.stdout)
    first = revs[0]
    status = 0
    for rev in revs[1:]:
        diffs = [(q, x, y) for (q, x), (_, y) in zip(results[first], results[rev], strict=True)
                 if x != y]
        print(f"{first} vs {rev}: {len(results[rev])} replies, {len(diffs)} differ")
        for q, x, y in diffs[:5]:
            print(f"  {q}\n    {x}\n    {y}")
        status |= bool(diffs)
    if len(revs) == 1:
        print(f"{first}: {len(results[first])} replies")
    return status


if __name__ == "__main__":
    sys.exit(main())
