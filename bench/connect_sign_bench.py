"""Connect leaf signing throughput: the built-in CA's pure signing path, no raft or RPC.

    python bench/connect_sign_bench.py                    # EC P-256 root, 2,000 CSRs
    python bench/connect_sign_bench.py --key-type rsa --key-bits 2048
    python bench/connect_sign_bench.py --csrs 500 --rounds 3

Makes distinct service CSRs the way agents do (fresh P-256 key each), then
times, per round over all of them: the provider's ``sign`` alone, and the
whole server-side path (parse the CSR, check its signature and identity,
sign, build the IssuedCert). Prints signatures/s of the best round; the
issue's target is >= 500/s for P-256. Also reports the agent-side CSR rate.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from proconsul.agent.connect.csr import LeafRequest, make_leaf_csr  # noqa: E402
from proconsul.server.connect.ca import (  # noqa: E402
    ConsulCAProvider,
    check_leaf_identity,
    new_ca_root,
    parse_leaf_csr,
    sign_leaf,
)
from proconsul.structs.connect import parse_ca_config  # noqa: E402

TARGET_PER_SECOND = 500


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--csrs", type=int, default=2000, help="distinct service CSRs (2000)")
    p.add_argument("--rounds", type=int, default=3, help="timed rounds, best reported (3)")
    p.add_argument("--key-type", default="ec", choices=("ec", "rsa"))
    p.add_argument("--key-bits", type=int, default=256)
    args = p.parse_args(argv)

    cluster_id = str(uuid.uuid4())
    now = datetime.datetime.now(datetime.UTC)
    provider = ConsulCAProvider(parse_ca_config({"PrivateKeyType": args.key_type,
                                                 "PrivateKeyBits": args.key_bits}), cluster_id)
    root_pem, provider.state = provider.generate_ca_chain(1, now)
    root = new_ca_root(root_pem, "consul", cluster_id)
    trust_domain = f"{cluster_id}.consul"

    start = time.perf_counter()
    csrs = [make_leaf_csr(LeafRequest(datacenter="dc1", service=f"svc{i:05d}"), trust_domain)[0]
            for i in range(args.csrs)]
    csr_rate = args.csrs / (time.perf_counter() - start)
    parsed = [parse_leaf_csr(pem) for pem in csrs]

    serial = 1
    best_sign = best_full = 0.0
    for _ in range(args.rounds):
        start = time.perf_counter()
        for csr, identity in parsed:
            serial += 1
            provider.sign(csr, identity.uri(), serial, now)
        best_sign = max(best_sign, len(parsed) / (time.perf_counter() - start))
        start = time.perf_counter()
        for pem in csrs:
            serial += 1
            csr, identity = parse_leaf_csr(pem)
            identity = check_leaf_identity(identity, cluster_id=cluster_id, datacenter="dc1")
            sign_leaf(provider, csr, identity, root, serial=serial, now=now)
        best_full = max(best_full, len(csrs) / (time.perf_counter() - start))

    root_kind = f"{args.key_type}-{args.key_bits}"
    print(f"root {root_kind}, {args.csrs} distinct service CSRs, best of {args.rounds} rounds")
    print(f"  provider.sign only:                 {best_sign:8.0f} signatures/s")
    print(f"  parse+verify CSR, check, sign, reply: {best_full:6.0f} signatures/s "
          f"(target >= {TARGET_PER_SECOND}/s)")
    print(f"  agent side, key + CSR:              {csr_rate:8.0f} CSRs/s")
    return 0 if best_full >= TARGET_PER_SECOND else 1


if __name__ == "__main__":
    sys.exit(main())
