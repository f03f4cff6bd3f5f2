"""Instructions per durable KV write through the Raft round, in one process.

What a PUT costs below the HTTP layer: ``Server.raft_submit`` of a KV set on a
lone durable voter (``RaftNode`` + ``RaftStorage`` in a temp dir, fdatasync per
batch), the run loop's turn, the storage thread, the FSM and state store, and
``Server.raft_outcome`` in the proposal's done-callback -- ``--concurrency`` writers,
each waiting for its answer before the next write. Run under callgrind it counts
only the writes: instrumentation is switched on around them, so start-up and the
agent's idle timers (which ``cpu_per_request.py --callgrind`` must subtract) do not
count::

    PYTHONPATH=$PWD valgrind --tool=callgrind --instr-atstart=no \\
        --callgrind-out-file=/tmp/cg.out python -P bench/raft_round.py --writes 1000 --callgrind
    grep ^totals /tmp/cg.out          # divided by --writes: instructions per write

``PYTHONPATH`` picks the source tree measured (a ``git archive`` of another revision
compares); ``-P`` keeps the bench directory's parent off ``sys.path``. Without
valgrind it prints CPU microseconds per write (``time.process_time``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import uvloop

from proconsul.raft.config import Configuration, RaftConfig
from proconsul.raft.config import Server as RaftServer
from proconsul.raft.node import InProcessNetwork, RaftNode
from proconsul.raft.storage import RaftStorage
from proconsul.server.server import Server, ServerConfig
from proconsul.structs.kv import DirEntry, KVOp, KVSRequest
from proconsul.structs.messages import MessageType


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--writes", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--callgrind", action="store_true",
                   help="switch callgrind's instrumentation on around the writes only")
    return p.parse_args(argv)


def callgrind(switch: str) -> None:
    subprocess.run(["callgrind_control", "-i", switch, str(os.getpid())], check=True,
                   capture_output=True)


async def run(a: argparse.Namespace, directory: Path) -> None:
    network = InProcessNetwork()

    def durable(fsm):
        storage = RaftStorage(directory)
        storage.bootstrap(Configuration((RaftServer("s0", "a0"),)))
        return RaftNode("s0", "a0", fsm, storage, network.transport("a0"),
                        RaftConfig.with_multiplier(1))

    server = Server(ServerConfig(), make_consensus=durable)
    node = server.consensus
    await node.start()  # type: ignore[attr-defined]
    while not node.is_leader():
        await asyncio.sleep(0.01)
    await node.barrier()  # type: ignore[attr-defined]
    loop = asyncio.get_running_loop()
    kvs, kv_set, value = MessageType.KVS, KVOp.SET, b"x" * 100

    async def writer(first: int, count: int) -> None:
        for i in range(first, first + count):
            request = KVSRequest(Op=kv_set, DirEnt=DirEntry(Key=f"bench/k{i % 1000:04d}",
                                                            Value=value))
            answered = loop.create_future()
            server.raft_submit(kvs, request).add_done_callback(
                lambda f, answered=answered: answered.set_result(server.raft_outcome(kvs, f)))
            await answered

    each = a.writes // a.concurrency
    if a.callgrind:
        callgrind("on")
    started = time.process_time()
    await asyncio.gather(*(writer(w * each, each) for w in range(a.concurrency)))
    cpu = time.process_time() - started
    if a.callgrind:
        callgrind("off")
    print(f"{each * a.concurrency} writes, {a.concurrency} writer(s): "
          f"{cpu / (each * a.concurrency) * 1e6:.1f} us CPU per write")
    await node.shutdown()  # type: ignore[attr-defined]


def main(argv=None) -> int:
    a = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="raft-round-") as directory:
        uvloop.run(run(a, Path(directory)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
