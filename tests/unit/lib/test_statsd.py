"""statsd and DogStatsD lines over a UDP socket the test owns."""

from __future__ import annotations

import socket

import pytest

from proconsul.lib.metrics import Metrics
from proconsul.lib.statsd import MAX_PACKET, AddressError, UDPSink


@pytest.fixture
def listener():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    yield sock
    sock.close()


def registry_with(sink: UDPSink) -> Metrics:
    m = Metrics(clock=lambda: 0.0, timer=lambda: 0.0)
    m.sinks.append(sink)
    return m


def test_statsd_lines_put_label_values_in_the_name(listener):
    sink = UDPSink(f"127.0.0.1:{listener.getsockname()[1]}")
    m = registry_with(sink)
    m.incr_counter("consul.raft.apply")
    m.set_gauge("consul.autopilot.healthy", 1)
    m.add_sample("consul.api.http", 1.5, {"method": "GET", "path": "v1_kv_"})
    sink.flush()
    assert listener.recv(MAX_PACKET).decode().splitlines() == [
        "consul.raft.apply:1.000000|c", "consul.autopilot.healthy:1.000000|g",
        "consul.api.http.GET.v1_kv_:1.500000|ms"]


def test_dogstatsd_lines_carry_labels_and_global_tags(listener):
    sink = UDPSink(f"127.0.0.1:{listener.getsockname()[1]}", dogstatsd=True,
                   tags=("env:test",))
    m = registry_with(sink)
    m.add_sample("consul.api.http", 1.5, {"method": "GET", "path": "v1_kv_"})
    m.incr_counter("consul.kvs.apply", 2)
    m.set_gauge("consul.runtime.alloc_bytes", 1024.0)
    sink.flush()
    assert listener.recv(MAX_PACKET).decode().splitlines() == [
        "consul.api.http:1.5|ms|#env:test,method:GET,path:v1_kv_",
        "consul.kvs.apply:2|c|#env:test", "consul.runtime.alloc_bytes:1024|g|#env:test"]


def test_datagrams_stay_under_the_packet_size(listener):
    sink = UDPSink(f"127.0.0.1:{listener.getsockname()[1]}")
    m = registry_with(sink)
    for i in range(100):
        m.incr_counter(f"consul.test.counter_{i}")
    sink.flush()
    lines = []
    while len(lines) < 100:
        packet = listener.recv(65536)
        assert len(packet) <= MAX_PACKET
        lines += packet.decode().splitlines()
    assert lines[0] == "consul.test.counter_0:1.000000|c" and len(lines) == 100


@pytest.mark.parametrize("address", ["nohost", "h:", ":80", "h:99999", "h:x"])
def test_bad_addresses_are_refused(address):
    with pytest.raises(AddressError):
        UDPSink(address)
