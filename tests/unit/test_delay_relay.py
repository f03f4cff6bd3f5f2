"""The delay relay (the WAN bench's stand-in for netem) against a small echo server:
each round trip takes the delay more, bytes keep their order, a closed side closes the
other, and SIGUSR1 reports how late its timers fired."""

from __future__ import annotations

import json
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time

import pytest

from tests.support.agent_process import free_port

DELAY_MS = 40


class _Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while data := self.request.recv(4096):
            self.request.sendall(data)


@pytest.fixture
def relay():
    echo = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    echo.daemon_threads = True
    threading.Thread(target=echo.serve_forever, daemon=True).start()
    port = free_port("127.0.0.1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.delay_relay", "127.0.0.1", str(DELAY_MS),
         f"{port}:127.0.0.1:{echo.server_address[1]}"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        yield proc, ("127.0.0.1", port)
    finally:
        proc.kill()
        proc.wait()
        echo.shutdown()
        echo.server_close()


def test_round_trips_take_the_delay_and_keep_order(relay):
    proc, address = relay
    conn = socket.create_connection(address, timeout=5)
    took = []
    for i in range(5):
        message = f"ping-{i}-".encode() * 50
        start = time.monotonic()
        conn.sendall(message[:100])
        conn.sendall(message[100:])
        got = b""
        while len(got) < len(message):
            got += conn.recv(65536)
        took.append(time.monotonic() - start)
        assert got == message
    assert min(took) >= DELAY_MS / 1000
    proc.send_signal(signal.SIGUSR1)
    stats = json.loads(proc.stdout.readline())
    assert stats["chunks"] >= 10 and stats["late_p50_ms"] >= 0
    proc.send_signal(signal.SIGUSR1)
    assert json.loads(proc.stdout.readline())["chunks"] == 0  # reset by the report

    conn.shutdown(socket.SHUT_WR)  # our end closes: so does the far one, then the relay's
    conn.settimeout(5)
    assert conn.recv(1) == b""
    conn.close()
