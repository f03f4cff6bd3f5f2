"""FaultProxy and Network against small echo servers."""

from __future__ import annotations

import socket
import socketserver
import threading

import pytest

from tests.support.fault_proxy import FaultProxy
from tests.support.partition import Network

SILENCE = 0.3  # how long "nothing arrives" is watched for


class _Echo(socketserver.BaseRequestHandler):
    def handle(self):
        try:
            while data := self.request.recv(4096):
                self.request.sendall(data)
        except ConnectionResetError:
            pass  # the tests reset connections on purpose: not worth a printed traceback


@pytest.fixture
def echo():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(echo):
    with FaultProxy(echo) as proxy:
        yield proxy


def connect(address) -> socket.socket:
    return socket.create_connection(address, timeout=5)


def roundtrip(sock: socket.socket, data: bytes = b"ping") -> bytes:
    sock.sendall(data)
    return sock.recv(4096)


def assert_silent(sock: socket.socket) -> None:
    sock.settimeout(SILENCE)
    with pytest.raises(TimeoutError):
        sock.recv(4096)
    sock.settimeout(5)


def assert_reset(target: socket.socket | tuple[str, int]) -> None:
    """The connection (or a new one to the address) is reset, at once or on use."""
    with pytest.raises((ConnectionResetError, BrokenPipeError)):
        sock = target if isinstance(target, socket.socket) else connect(target)
        sock.sendall(b"x")
        if sock.recv(4096) == b"":
            raise ConnectionResetError  # a FIN got there first; the link is gone either way


def test_forwards_both_ways(proxy):
    with connect(proxy.address) as sock:
        assert roundtrip(sock) == b"ping"
        assert roundtrip(sock, b"x" * 100_000)[:1] == b"x"
    assert proxy.address != proxy.target


def test_block_holds_traffic_until_heal(proxy):
    with connect(proxy.address) as old:
        assert roundtrip(old) == b"ping"
        proxy.block()
        old.sendall(b"held")
        assert_silent(old)
        new = connect(proxy.address)
        new.sendall(b"early")
        assert_silent(new)
        proxy.heal()
        assert old.recv(4096) == b"held"
        assert new.recv(4096) == b"early"
        new.close()


def test_block_with_reset_kills_existing_and_new_connections(proxy):
    old = connect(proxy.address)
    assert roundtrip(old) == b"ping"
    proxy.block(reset=True)
    assert_reset(old)
    assert_reset(proxy.address)
    proxy.heal()
    with connect(proxy.address) as sock:
        assert roundtrip(sock) == b"ping"


def test_unreachable_target_resets_the_client():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        with FaultProxy(unused.getsockname()) as proxy:
            assert_reset(proxy.address)


def test_close_resets_connections_and_stops_listening(echo):
    proxy = FaultProxy(echo)
    sock = connect(proxy.address)
    assert roundtrip(sock) == b"ping"
    proxy.block()
    proxy.close()
    assert_reset(sock)
    with pytest.raises(ConnectionRefusedError):
        connect(proxy.address)
    proxy.close()  # idempotent


@pytest.fixture
def network():
    servers = [socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo) for _ in range(3)]
    for server in servers:
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
    with Network({name: s.server_address for name, s in zip("abc", servers, strict=True)}) as net:
        yield net
    for server in servers:
        server.shutdown()
        server.server_close()


def test_network_partitions_and_heals(network):
    socks = {(src, dst): connect(network.address(src, dst)) for src, dst in network.links}
    assert len(socks) == 6
    assert all(roundtrip(sock) == b"ping" for sock in socks.values())
    network.isolate("a")
    for (src, dst), sock in socks.items():
        if "a" in (src, dst):
            sock.sendall(b"cut")
            assert_silent(sock)
        else:
            assert roundtrip(sock) == b"ping"
    network.heal()
    for (src, dst), sock in socks.items():
        assert sock.recv(4096) == b"cut" if "a" in (src, dst) else roundtrip(sock) == b"ping"
        sock.close()


def test_network_partition_with_reset_and_regrouping(network):
    network.partition(["a", "b"], reset=True)
    assert_reset(network.address("c", "a"))
    with connect(network.address("a", "b")) as sock:
        assert roundtrip(sock) == b"ping"
    network.partition(["a", "c"])  # b is now alone; a-c heals
    with connect(network.address("c", "a")) as sock:
        assert roundtrip(sock) == b"ping"
    with connect(network.address("b", "a")) as sock:
        sock.sendall(b"x")
        assert_silent(sock)
    with pytest.raises(ValueError):
        network.partition(["z"])
