"""Instructions per applied command: the FSM and the state store alone, in one process.

What a committed write costs once Raft hands it over: ``FSM.apply_batch`` of one
entry (decode, handler, state-store write, index bump, watch firing, the FSM's
timers) -- ``kv``, a KV set of a changed 100-byte value on one of 1,000 existing
keys; ``register``, a catalog registration of a new node with one instance of a
shared service (as ``cpu_per_request.py --kind register`` sends them). The store
holds a cached read and a watched KV prefix elsewhere, as a running server's does,
so watch firing is not skipped. Under callgrind it counts only the applies::

    PYTHONPATH=$PWD valgrind --tool=callgrind --instr-atstart=no \\
        --callgrind-out-file=/tmp/cg.out python -P bench/fsm_apply.py --kind kv --callgrind
    grep ^totals /tmp/cg.out          # divided by --applies: instructions per apply

``PYTHONPATH`` picks the source tree measured (a ``git archive`` of another revision
compares). Without valgrind it prints CPU microseconds per apply.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import msgspec

from proconsul.fsm.fsm import FSM
from proconsul.raft.messages import Entry
from proconsul.state.store import Store
from proconsul.structs.catalog import RegisterRequest
from proconsul.structs.kv import DirEntry, KVSRequest
from proconsul.structs.messages import MessageType, encode_command


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kind", choices=("kv", "register"), default="kv")
    p.add_argument("--applies", type=int, default=2000)
    p.add_argument("--callgrind", action="store_true",
                   help="switch callgrind's instrumentation on around the applies only")
    return p.parse_args(argv)


def kv_set(key: str, value: bytes) -> bytes:
    return encode_command(MessageType.KVS, KVSRequest(Op="set", DirEnt=DirEntry(Key=key,
                                                                                 Value=value)))


def commands(kind: str, count: int) -> list[bytes]:
    if kind == "kv":
        return [kv_set(f"bench/k{i % 1000:04d}", b"%099d" % i) for i in range(count)]
    return [encode_command(MessageType.REGISTER, msgspec.convert(
        {"Node": f"bench-node-{i:05d}", "Address": f"10.1.{i // 256 % 256}.{i % 256}",
         "Service": {"Service": "reg-svc", "Port": 8000 + i % 100}}, RegisterRequest))
        for i in range(count)]


def main(argv=None) -> int:
    a = parse_args(argv)
    fsm = FSM(Store())
    entries = [Entry(i + 1, 1, data=kv_set(f"bench/k{i:04d}", b"v" * 100)) for i in range(1000)]
    for entry in entries:
        fsm.apply_batch([entry])
    store = fsm.store
    store.read_cache.get("elsewhere", None, lambda ws: store.kv_get(ws, "other/key"))
    store.watches.register([("kv", "other/")], lambda: None)
    batches = [[Entry(1001 + i, 1, data=data)] for i, data in enumerate(commands(a.kind,
                                                                                 a.applies))]
    if a.callgrind:
        subprocess.run(["callgrind_control", "-i", "on", str(os.getpid())], check=True,
                       capture_output=True)
    started = time.process_time()
    for batch in batches:
        fsm.apply_batch(batch)
    cpu = time.process_time() - started
    if a.callgrind:
        subprocess.run(["callgrind_control", "-i", "off", str(os.getpid())], check=True,
                       capture_output=True)
    print(f"{a.applies} {a.kind} applies: {cpu / a.applies * 1e6:.1f} us CPU per apply")
    return 0


if __name__ == "__main__":
    sys.exit(main())
