"""A TCP relay that holds every chunk for a fixed time each way: a WAN delay where the
kernel has no ``netem`` qdisc.

    python -m tests.support.delay_relay LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT MS

Each direction delays by ``MS / 2``, so a request and its reply take ``MS`` more
than without the relay; order is kept (chunks leave in arrival order, each at its
arrival time plus the delay). Prints ``ready`` once listening.
"""

from __future__ import annotations

import asyncio
import socket
import sys


async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
               delay: float) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def send() -> None:
        while True:
            due, data = await queue.get()
            if not data:
                break
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        writer.close()

    sender = asyncio.create_task(send())
    try:
        while data := await reader.read(65536):
            queue.put_nowait((loop.time() + delay, data))
    except ConnectionError:
        pass
    queue.put_nowait((loop.time() + delay, b""))
    try:
        await sender
    except ConnectionError:
        pass


async def main(listen: tuple[str, int], target: tuple[str, int], delay_ms: float) -> None:
    delay = delay_ms / 2000

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            up_reader, up_writer = await asyncio.open_connection(*target)
        except OSError:
            writer.close()
            return
        up_writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await asyncio.gather(pump(reader, up_writer, delay), pump(up_reader, writer, delay),
                             return_exceptions=True)

    server = await asyncio.start_server(accept, *listen)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    host, port, target_host, target_port, ms = sys.argv[1:6]
    asyncio.run(main((host, int(port)), (target_host, int(target_port)), float(ms)))
