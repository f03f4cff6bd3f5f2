"""What one gossip packet costs: instructions (callgrind) or CPU per operation, in one process.

    python bench/gossip_packets.py                              # this checkout, CPU us per op
    python bench/gossip_packets.py --rev 5206127 --rev . --callgrind   # instructions, two revisions

A LAN pool of ``--nodes`` serf cores (memberlist LAN profile, as Consul's LAN
pool) is joined in memory (packets and streams handed from core to core, no
sockets), a user event is queued, and real packets are captured from it: a
probe's ping and its ack (serf's Vivaldi coordinate as payload), a gossip
compound (an alive message and user events piggy-backed), and a push/pull
stream with the whole pool's state. Each operation then runs ``--count``
times:

  lzw.compress / lzw.decompress        of the captured messages
  encode <kind>                         ``PacketCodec.encode_packet`` of the message
                                        (compression tried, CRC; memoised results forgotten)
  receive <kind>                        ``Serf.handle_packet`` of the captured datagram
                                        (decode, unwrap, handle; replies included)
  push/pull encode / receive            ``PacketCodec.encode_stream`` of the local state
                                        / ``Serf.handle_stream`` of a peer's

With ``--callgrind`` each revision runs under ``valgrind --tool=callgrind
--instr-atstart=no`` and switches instrumentation on around each operation's
loop only (one dump per operation), so start-up does not count. ``--rev`` is a
git revision (a ``git archive`` extract, run with ``PYTHONPATH`` and ``python
-P``), ``.`` this checkout. The entry points used exist in every revision
compared; see bench/README.md ("Gossip: CPU per packet").
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rev", action="append", default=[],
                   help="git revision or '.' (repeatable; default '.')")
    p.add_argument("--nodes", type=int, default=20)
    p.add_argument("--count", type=int, default=0,
                   help="repetitions per operation (default 2000, 200 under callgrind)")
    p.add_argument("--callgrind", action="store_true", help="count instructions with callgrind")
    p.add_argument("--op", action="append", default=[], help="only these operations")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args(argv)


# ------------------------------------------------------------- the child


def build_pool(n: int):
    """``n`` joined serf cores and a function that delivers everything they send."""
    from proconsul.gossip.memberlist import MemberlistConfig, SendPacket
    from proconsul.gossip.serf import Serf, SerfConfig

    cores = {}
    for i in range(n):
        ip = f"10.0.{i // 250}.{i % 250 + 1}"
        cfg = SerfConfig(memberlist=MemberlistConfig.lan(f"node-{i:03d}", bind_addr=ip,
                                                         bind_port=8301),
                         tags={"role": "node", "dc": "dc1", "id": f"{i:08x}-0000-4000-8000"})
        core = Serf(cfg, random.Random(i))
        core.start(0.0)
        cores[(ip, 8301)] = core
    now = [0.0]
    captured: list[tuple[tuple, tuple, bytes]] = []

    def pump() -> None:
        busy = True
        while busy:
            busy = False
            for addr, core in list(cores.items()):
                for action in core.take_actions():
                    busy = True
                    if isinstance(action, SendPacket):
                        captured.append((addr, action.addr, action.data))
                        dest = cores.get(action.addr)
                        if dest is not None:
                            dest.handle_packet(action.data, addr, now[0])
                    else:
                        dest = cores.get(action.addr)
                        reply = dest.handle_stream(action.data, addr, now[0])
                        if action.expect_reply:
                            core.stream_reply(action.request_id, reply, now[0])
                core.take_events()
                core.take_snapshot_lines()

    def advance(seconds: float, step: float = 0.05) -> None:
        end = now[0] + seconds
        while now[0] < end:
            now[0] += step
            for core in cores.values():
                core.tick(now[0])
            pump()

    first = next(iter(cores))
    for addr, core in cores.items():
        if addr != first:
            core.join([first], now[0])
            pump()
    advance(3.0)
    return cores, captured, advance, now


def capture(n: int) -> dict:
    from proconsul.gossip.wire import MessageType, PushPull, encode_push_pull

    cores, captured, advance, now = build_pool(n)
    captured.clear()
    names = list(cores)
    sender = cores[names[1]]
    for i in range(3):
        sender.user_event(f"deploy-{i}", b"service web version 1.2.%d" % i, False, now[0])
    advance(0.25, 0.01)
    cores[names[2]].set_tags({"role": "node", "dc": "dc1", "id": "changed"}, now[0])
    advance(2.5)
    packets: dict[str, tuple] = {}
    for src, dst, data in captured:
        codec = cores[dst].codec
        try:
            leaves = _leaves(codec, data)
        except Exception:  # noqa: BLE001 -- a capture helper: skip what it cannot parse
            continue
        kinds = [leaf[0] for leaf in leaves]
        if kinds == [MessageType.PING]:
            packets.setdefault("ping", (src, dst, data))
        elif kinds == [MessageType.ACK]:
            packets.setdefault("ack", (src, dst, data))
        elif len(kinds) >= 3 and MessageType.USER in kinds and MessageType.PING not in kinds:
            packets.setdefault("gossip compound", (src, dst, data))
    missing = {"ping", "ack", "gossip compound"} - set(packets)
    if missing:
        raise SystemExit(f"no {', '.join(sorted(missing))} packet captured")
    a, b = names[3], names[4]
    local = cores[a].memberlist._local_state(False)
    state = encode_push_pull(PushPull(join=False, nodes=local.nodes, user_state=local.user_state))
    return {"cores": cores, "packets": packets, "push_pull": (a, b, state), "now": now[0]}


def _leaves(codec, data: bytes) -> list[bytes]:
    from proconsul.gossip.wire import unwrap_packet

    leaves, _ = unwrap_packet(codec.decode_packet(data))
    return leaves


def operations(n: int) -> dict:
    """name -> zero-argument callable doing one operation."""
    from proconsul.gossip import lzw, wire
    from proconsul.gossip.wire import MessageType

    cap = capture(n)
    cores, packets, now = cap["cores"], cap["packets"], cap["now"]
    ops: dict = {"nothing": lambda: None}  # the loop and the callgrind switches, subtracted
    sizes: dict[str, tuple[int, int, int]] = {}
    for kind in ("ping", "ack", "gossip compound"):
        src, dst, data = packets[kind]
        message = cores[dst].codec.decode_packet(data)
        plain = _plain(message) if message[0] == MessageType.COMPRESS else message
        packed = lzw.compress(plain)
        sizes[kind] = (len(plain), len(packed), len(data))
        ops[f"lzw.compress {kind}"] = (lambda p=plain: lzw.compress(p))
        ops[f"lzw.decompress {kind}"] = (lambda c=packed: lzw.decompress(c))
        codec = cores[src].codec
        ops[f"encode {kind} packet"] = (lambda c=codec, m=plain: c.encode_packet(m, True))
        receiver = cores[dst]
        ops[f"receive {kind} packet"] = (
            lambda r=receiver, d=data, s=src: (r.handle_packet(d, s, now), r.take_actions(),
                                               r.take_events()))
    a, b, state = cap["push_pull"]
    codec = cores[a].codec
    stream = codec.encode_stream(state)
    packed = lzw.compress(state)
    sizes["push/pull"] = (len(state), len(packed), len(stream))
    ops["lzw.compress push/pull"] = (lambda s=state: lzw.compress(s))
    ops["lzw.decompress push/pull"] = (lambda c=packed: lzw.decompress(c))
    ops["encode push/pull stream"] = (lambda c=codec, s=state: c.encode_stream(s))
    receiver = cores[b]
    ops["receive push/pull stream"] = (
        lambda r=receiver, d=stream, s=a: (r.handle_stream(d, s, now), r.take_actions(),
                                           r.take_events()))
    print("# bytes (message, LZW of it, as sent): "
          + "; ".join(f"{k} {m}/{c}/{w}" for k, (m, c, w) in sizes.items()), flush=True)
    # Each operation is measured as if its message were new: a revision that
    # memoises packet compression forgets before every call (``nothing`` too).
    forget = getattr(getattr(wire, "compress_packet", None), "cache_clear", None)
    if forget is None:
        return ops
    return {name: (lambda op=op: (forget(), op())) for name, op in ops.items()}


def _plain(message: bytes) -> bytes:
    from proconsul.gossip.wire import decode_message, decompress_body

    _, body = decode_message(message)
    return decompress_body(body)


def callgrind(switch: str) -> None:
    subprocess.run(["callgrind_control", *switch.split(), str(os.getpid())], check=True,
                   capture_output=True)


def child(a: argparse.Namespace) -> None:
    ops = operations(a.nodes)
    for name, op in ops.items():
        if a.op and name != "nothing" and not any(o in name for o in a.op):
            continue
        for _ in range(20):  # warm caches (memoised encodes, specialised bytecode)
            op()
        if a.callgrind:
            callgrind("-i on")
        start = time.process_time()
        for _ in range(a.count):
            op()
        spent = time.process_time() - start
        if a.callgrind:
            callgrind("-i off")
            callgrind("-d")
        print(f"{name}\t{spent / a.count * 1e6:.2f}", flush=True)


# ------------------------------------------------------------ the parent


def extract(rev: str, tmp: Path) -> Path:
    if rev == ".":
        return REPO
    out = tmp / rev.replace("/", "_")
    out.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out


def totals(dumps: Path) -> list[int]:
    """Instructions per ``callgrind_control -d`` dump (``out.1``, ``out.2``, ...), in order."""
    found = []
    for path in dumps.glob("out.*"):
        suffix = path.name.rsplit(".", 1)[1]
        if not suffix.isdigit():
            continue
        number = int(suffix)
        for line in path.read_text().splitlines():
            if line.startswith("totals:"):
                found.append((number, int(line.split()[1])))
                break
    return [total for _, total in sorted(found)]


def run_rev(rev: str, a: argparse.Namespace, tmp: Path) -> dict[str, float]:
    src = extract(rev, tmp)
    env = dict(os.environ, PYTHONPATH=str(src))
    cmd = [sys.executable, "-P", str(Path(__file__).resolve()), "--child",
           "--nodes", str(a.nodes), "--count", str(a.count)]
    for op in a.op:
        cmd += ["--op", op]
    dumps = tmp / f"cg-{rev.replace('/', '_')}"
    if a.callgrind:
        dumps.mkdir()
        cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
               f"--callgrind-out-file={dumps}/out", *cmd, "--callgrind"]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    rows = [line.split("\t") for line in out.splitlines() if "\t" in line]
    print(f"{rev}: " + "".join(line for line in out.splitlines() if line.startswith("#")))
    if not a.callgrind:
        return {name: float(us) for name, us in rows if name != "nothing"}
    counts = dict(zip([name for name, _ in rows], totals(dumps), strict=True))
    empty = counts.pop("nothing")
    return {name: (count - empty) / a.count for name, count in counts.items()}


def main(argv=None) -> int:
    a = parse_args(argv)
    if not a.count:
        a.count = 200 if a.callgrind else 2000
    if a.child:
        child(a)
        return 0
    revs = a.rev or ["."]
    with tempfile.TemporaryDirectory(prefix="gossip-packets-") as tmp:
        results = {rev: run_rev(rev, a, Path(tmp)) for rev in revs}
    unit = "instructions" if a.callgrind else "CPU us"
    names = list(results[revs[0]])
    width = max(len(n) for n in names)
    print(f"{'operation':<{width}}  " + "  ".join(f"{r:>12}" for r in revs)
          + ("  after/before" if len(revs) == 2 else "") + f"   ({unit} per op)")
    for name in names:
        values = [results[r].get(name) for r in revs]
        cells = [f"{v:>12,.0f}" if a.callgrind and v is not None else
                 f"{v:>12.2f}" if v is not None else f"{'-':>12}" for v in values]
        line = f"{name:<{width}}  " + "  ".join(cells)
        if len(revs) == 2 and values[0] and values[1] is not None:
            line += f"  {values[1] / values[0]:12.2f}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
