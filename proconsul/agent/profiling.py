"""Python stand-ins for Go's pprof profiles: sampled stacks, a heap summary, a stack dump.

A CPU profile samples one thread's stack (the event loop's) from another thread
through ``sys._current_frames()``; it reports collapsed stacks (``root;...;leaf
count``, the input of flame graph tools). A trace is the same sampling kept in
time order. The goroutine dump lists every thread's stack and every asyncio
task's chain of awaits.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import os
import sys
import threading
import time
import traceback
import tracemalloc
from collections.abc import Iterator
from types import FrameType

SAMPLE_INTERVAL = 0.01  # 100 Hz, as Go's CPU profiler
TRACE_INTERVAL = 0.001


def _frame_name(frame: FrameType) -> str:
    code = frame.f_code
    path = code.co_filename
    marker = f"{os.sep}proconsul{os.sep}"
    if marker in path:
        path = "proconsul" + os.sep + path.rsplit(marker, 1)[1]
    else:
        path = os.path.basename(path)
    return f"{code.co_qualname} ({path}:{code.co_firstlineno})"


def collapse(frame: FrameType | None) -> str:
    """One stack as ``root;...;leaf``: a function per frame (name, file, first line)."""
    names = []
    while frame is not None:
        names.append(_frame_name(frame))
        frame = frame.f_back
    return ";".join(reversed(names))


def sample_stacks(thread_id: int, seconds: float,
                  interval: float = SAMPLE_INTERVAL) -> tuple[collections.Counter[str], int]:
    """Sample ``thread_id``'s stack every ``interval`` for ``seconds`` (call it from
    another thread); returns the count per collapsed stack and the number of samples."""
    counts: collections.Counter[str] = collections.Counter()
    samples = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        frame = sys._current_frames().get(thread_id)
        if frame is not None:
            counts[collapse(frame)] += 1
            samples += 1
        del frame
        time.sleep(interval)
    return counts, samples


def cpu_profile(thread_id: int, seconds: float, interval: float = SAMPLE_INTERVAL) -> str:
    counts, samples = sample_stacks(thread_id, seconds, interval)
    lines = [f"# Proconsul CPU profile: {samples} samples of the event loop thread's stack, "
             f"every {interval * 1000:g} ms for {seconds:g} s",
             "# format: collapsed stacks (root;...;leaf count), for flame graph tools"]
    lines += [f"{stack} {count}" for stack, count in counts.most_common()]
    return "\n".join(lines) + "\n"


def trace(thread_id: int, seconds: float, interval: float = TRACE_INTERVAL) -> str:
    """What ``thread_id`` ran, in time order: one line per change of its innermost frames."""
    lines = [f"# Proconsul trace: the event loop thread's stack every {interval * 1000:g} ms "
             f"for {seconds:g} s; a line whenever it changes", "# ms_since_start stack"]
    start = time.monotonic()
    deadline = start + seconds
    last = None
    while time.monotonic() < deadline:
        frame = sys._current_frames().get(thread_id)
        stack = collapse(frame) if frame is not None else "(no frame)"
        del frame
        if stack != last:
            lines.append(f"{(time.monotonic() - start) * 1000:.3f} {stack}")
            last = stack
        time.sleep(interval)
    return "\n".join(lines) + "\n"


def _await_chain(coro) -> Iterator[FrameType]:
    """The frames of a coroutine and of what it awaits, outermost first."""
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None) or \
            getattr(coro, "ag_frame", None)
        if frame is not None:
            yield frame
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None) or \
            getattr(coro, "ag_await", None)


def _format_frames(frames: list[FrameType]) -> list[str]:
    summary = traceback.StackSummary.extract(((f, f.f_lineno) for f in frames),
                                             lookup_lines=True)
    return [line.rstrip("\n") for line in summary.format()]


def stack_dump(loop: asyncio.AbstractEventLoop | None = None) -> str:
    """Every thread's stack, then every asyncio task's chain of awaits (Go's goroutine dump)."""
    names = {t.ident: t.name for t in threading.enumerate()}
    frames = sys._current_frames()
    lines = [f"threads: {len(frames)}", ""]
    for ident, frame in sorted(frames.items()):
        chain = []
        while frame is not None:
            chain.append(frame)
            frame = frame.f_back
        lines.append(f"thread {ident} [{names.get(ident, '?')}]:")
        lines += _format_frames(list(reversed(chain)))
        lines.append("")
    del frames
    tasks = sorted(asyncio.all_tasks(loop), key=lambda t: t.get_name())
    lines += [f"asyncio tasks: {len(tasks)}", ""]
    for task in tasks:
        coro = task.get_coro()
        state = "done" if task.done() else "pending"
        lines.append(f"task {task.get_name()} [{state}] "
                     f"{getattr(coro, '__qualname__', type(coro).__name__)}:")
        lines += _format_frames(list(_await_chain(coro)))
        lines.append("")
    return "\n".join(lines)


def heap_summary(top: int = 40, collect: bool = False) -> str:
    """Objects the collector tracks by type, collector state, and with tracemalloc on
    (``PYTHONTRACEMALLOC=1``) the lines that allocated most."""
    if collect:
        gc.collect()
    objects = gc.get_objects()
    by_type = collections.Counter(type(o).__qualname__ for o in objects)
    count = len(objects)
    del objects
    lines = [f"# Proconsul heap summary: {count} objects tracked by the garbage collector "
             f"(and {gc.get_freeze_count()} frozen at start-up, not listed)",
             f"# gc counts (generations 0, 1, 2): {gc.get_count()}, thresholds: "
             f"{gc.get_threshold()}, frozen: {gc.get_freeze_count()}"]
    for generation, stats in enumerate(gc.get_stats()):
        lines.append(f"# gc generation {generation}: {stats}")
    lines += ["", f"top {top} types by count:"]
    lines += [f"{n:>10} {name}" for name, n in by_type.most_common(top)]
    lines.append("")
    if tracemalloc.is_tracing():
        current, peak = tracemalloc.get_traced_memory()
        lines.append(f"tracemalloc: {current} bytes traced now, {peak} at peak; "
                     f"top {top} allocation sites:")
        stats = tracemalloc.take_snapshot().statistics("lineno")[:top]
        lines += [str(stat) for stat in stats]
    else:
        lines.append("tracemalloc is off: start the agent with PYTHONTRACEMALLOC=1 "
                     "for allocation sites")
    return "\n".join(lines) + "\n"
