"""statsd and DogStatsD sinks over UDP, in the line formats go-metrics sends.

statsd: ``name:value|type`` with the label values appended to the name
(``consul.api.http.GET.v1_kv_:1.500000|ms``). DogStatsD: the labels (and
``dogstatsd_tags``) become tags (``consul.api.http:1.5|ms|#method:GET,path:v1_kv_``).
Lines are batched into datagrams of at most :data:`MAX_PACKET` bytes and sent
when a datagram is full or on :meth:`UDPSink.flush` (the agent flushes every
100 ms, as go-metrics does). Sending never blocks: a datagram the kernel
cannot take is dropped, as UDP allows.
"""

from __future__ import annotations

import logging
import socket

from proconsul.lib.metrics import Labels

log = logging.getLogger("telemetry")

MAX_PACKET = 1400
FLUSH_INTERVAL = 0.1


class AddressError(ValueError):
    """A sink address that is not ``host:port``."""


def split_address(address: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` too) → (host, port)."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise AddressError(f"invalid address {address!r}: expected host:port")
    return host.strip("[]"), int(port)


def _sanitize(name: str) -> str:
    return name.replace(":", "_").replace(" ", "_")


def _go_float(value: float) -> str:
    """strconv.FormatFloat(v, 'f', -1, 64): the shortest exact decimal, no exponent."""
    value = float(value)
    if value.is_integer():
        return str(int(value))
    text = repr(value)
    return format(value, "f") if "e" in text else text


class UDPSink:
    """Batches metric lines into UDP datagrams to one statsd or DogStatsD address."""

    def __init__(self, address: str, dogstatsd: bool = False,
                 tags: tuple[str, ...] = ()) -> None:
        host, port = split_address(address)
        try:  # resolved once: a send must never wait on DNS
            family, _, _, _, target = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        except (socket.gaierror, UnicodeError) as err:
            raise AddressError(f"invalid address {address!r}: {err}") from None
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.target = target[:2]
        self.dogstatsd = dogstatsd
        self.tags = tuple(tags)
        self._buffer = bytearray()

    # go-metrics' MetricSink
    def gauge(self, name: str, value: float, labels: Labels) -> None:
        self._line(name, value, labels, "g")

    def counter(self, name: str, value: float, labels: Labels) -> None:
        self._line(name, value, labels, "c")

    def sample(self, name: str, value: float, labels: Labels) -> None:
        self._line(name, value, labels, "ms")

    def _line(self, name: str, value: float, labels: Labels, kind: str) -> None:
        if self.dogstatsd:
            tags = [*self.tags, *(f"{_sanitize(k)}:{v}" for k, v in labels)]
            number = str(int(value)) if kind == "c" else _go_float(value)
            line = f"{_sanitize(name)}:{number}|{kind}" + (f"|#{','.join(tags)}" if tags
                                                             else "")
        else:
            flat = ".".join([name, *(v for _, v in labels)])
            line = f"{_sanitize(flat)}:{value:f}|{kind}"
        data = line.encode() + b"\n"
        if len(self._buffer) + len(data) > MAX_PACKET:
            self.flush()
        self._buffer += data

    def flush(self) -> None:
        """Send what is buffered as one datagram."""
        if not self._buffer:
            return
        packet = bytes(self._buffer)
        self._buffer.clear()
        try:
            self.sock.sendto(packet, self.target)
        except OSError as err:  # full socket buffer, unreachable address: UDP drops
            log.debug("metrics datagram to %s:%d dropped: %s", *self.target, err)

    def close(self) -> None:
        self.flush()
        self.sock.close()
