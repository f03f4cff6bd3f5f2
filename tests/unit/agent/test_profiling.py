"""The pprof stand-ins: sampled stacks name the busy function; the dump shows await chains."""

from __future__ import annotations

import asyncio
import threading

from proconsul.agent import profiling


def busy_loop_for_test(stop: threading.Event) -> None:
    while not stop.is_set():
        sum(range(1000))


def test_cpu_profile_finds_the_busy_function():
    stop = threading.Event()
    worker = threading.Thread(target=busy_loop_for_test, args=(stop,))
    worker.start()
    try:
        counts, samples = profiling.sample_stacks(worker.ident, 0.3, interval=0.005)
    finally:
        stop.set()
        worker.join()
    assert samples > 0  # how many depends on the machine's load, not on the sampler
    busy = sum(n for stack, n in counts.items() if "busy_loop_for_test (" in stack)
    assert busy == samples
    assert all(stack.startswith("Thread._bootstrap") for stack in counts)


def test_trace_lists_changes_in_time_order():
    stop = threading.Event()
    worker = threading.Thread(target=busy_loop_for_test, args=(stop,))
    worker.start()
    try:
        text = profiling.trace(worker.ident, 0.1)
    finally:
        stop.set()
        worker.join()
    times = [float(line.split()[0]) for line in text.splitlines()[2:]]
    assert times and times == sorted(times)


def test_stack_dump_shows_each_task_and_what_it_awaits():
    async def inner_wait(event: asyncio.Event) -> None:
        await event.wait()

    async def outer_wait(event: asyncio.Event) -> None:
        await inner_wait(event)

    async def main() -> str:
        event = asyncio.Event()
        task = asyncio.create_task(outer_wait(event), name="waiter")
        await asyncio.sleep(0)
        dump = profiling.stack_dump()
        event.set()
        await task
        return dump

    dump = asyncio.run(main())
    section = dump.split("task waiter [pending] ")[1].split("\n\n")[0]
    assert section.startswith("test_stack_dump_shows_each_task_and_what_it_awaits.<locals>."
                              "outer_wait:")
    assert "in outer_wait" in section and "in inner_wait" in section
    assert section.index("in outer_wait") < section.index("in inner_wait")
    assert "[MainThread]:" in dump


def test_heap_summary_counts_types():
    keep = [bytearray(1) for _ in range(5000)]
    text = profiling.heap_summary(top=5)
    assert "top 5 types by count:" in text
    assert text.count("\n") > 5
    del keep
