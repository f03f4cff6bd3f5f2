"""Resource records: how they are built, and how they are encoded for one question.

A name is a tuple of raw labels without the root (``(b"web", b"service",
b"consul")``). Records are encoded once per question and then reused, so
compression only ever points into the question (always at offset 12): every
encoded record stays valid wherever it lands in a reply, and replies can be
reassembled and reordered without re-encoding.
"""

from __future__ import annotations

import functools
import ipaddress
import struct
from typing import NamedTuple

import dns.rdatatype

Name = tuple[bytes, ...]

A = int(dns.rdatatype.A)
NS = int(dns.rdatatype.NS)
CNAME = int(dns.rdatatype.CNAME)
SOA = int(dns.rdatatype.SOA)
PTR = int(dns.rdatatype.PTR)
TXT = int(dns.rdatatype.TXT)
AAAA = int(dns.rdatatype.AAAA)
SRV = int(dns.rdatatype.SRV)
OPT = int(dns.rdatatype.OPT)
AXFR = int(dns.rdatatype.AXFR)
ANY = int(dns.rdatatype.ANY)
CLASS_IN = 1

_RR_HEADER = struct.Struct(">HHIH")
_SERIAL = struct.Struct(">I")
_LENGTHS = [bytes((n,)) for n in range(256)]  # a label's length byte


class BadName(ValueError):
    """A name that cannot be put on the wire (empty or over-long label, too long)."""


class Record(NamedTuple):
    """One resource record; ``target`` is the name an SRV or CNAME points at."""

    name: Name
    rtype: int
    ttl: int
    rdata: bytes
    target: Name | None = None


@functools.lru_cache(maxsize=8192)
def name_of(text: str) -> Name:
    """A name from text, split at dots as Consul does (``"a.b."`` → ``(b"a", b"b")``);
    remembered, as catalog names recur."""
    text = text[:-1] if text.endswith(".") else text
    return tuple(map(str.encode, text.split("."))) if text else ()


def lower(name: Name) -> Name:
    return tuple(map(bytes.lower, name))


def check_name(name: Name) -> None:
    """Raise :class:`BadName` unless every label is 1-63 bytes and the name fits 255."""
    if name and (min(map(len, name)) == 0 or max(map(len, name)) > 63) \
            or sum(map(len, name)) + len(name) > 254:
        raise BadName(name)


@functools.lru_cache(maxsize=8192)
def name_wire(name: Name) -> bytes:
    """Uncompressed wire form of ``name`` (remembered: SRV targets recur in many answers)."""
    check_name(name)
    return b"".join([_LENGTHS[len(label)] + label for label in name]) + b"\0"


@functools.lru_cache(maxsize=8192)
def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An IP as Go's ``net.ParseIP`` reads it (IPv4-mapped IPv6 counts as IPv4), else None.

    Remembered: the catalog's few addresses are read again for every answer built."""
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


# ---- record constructors ------------------------------------------------------------

def address(name: Name, ip: ipaddress.IPv4Address | ipaddress.IPv6Address, ttl: int) -> Record:
    return Record(name, A if isinstance(ip, ipaddress.IPv4Address) else AAAA, ttl, ip.packed)


def srv(name: Name, ttl: int, priority: int, weight: int, port: int, target: Name) -> Record:
    rdata = struct.pack(">HHH", priority, weight & 0xFFFF, port & 0xFFFF) + name_wire(target)
    return Record(name, SRV, ttl, rdata, target)


def cname(name: Name, ttl: int, target: Name) -> Record:
    return Record(name, CNAME, ttl, name_wire(target), target)


def ns(name: Name, ttl: int, target: Name) -> Record:
    return Record(name, NS, ttl, name_wire(target), target)


def ptr(name: Name, ttl: int, target: Name) -> Record:
    return Record(name, PTR, ttl, name_wire(target), target)


def txt(name: Name, ttl: int, text: str) -> Record:
    """One TXT record holding ``text`` (split into 255-byte character-strings)."""
    raw = text.encode()
    chunks = [raw[i:i + 255] for i in range(0, len(raw), 255)] or [b""]
    return Record(name, TXT, ttl, b"".join(bytes([len(c)]) + c for c in chunks))


def soa(domain: Name, ttl: int, refresh: int, retry: int, expire: int, min_ttl: int) -> Record:
    """The zone's SOA; its serial (the current Unix time) is filled in when a reply is sent."""
    rdata = (name_wire((b"ns", *domain)) + name_wire((b"hostmaster", *domain))
             + struct.pack(">IIIII", 0, refresh, retry, expire, min_ttl))
    return Record(domain, SOA, ttl, rdata)


# ---- encoding -------------------------------------------------------------------------

class SerialRecord(bytes):
    """An encoded SOA; :meth:`at` gives it with the serial of the moment."""

    def at(self, serial: int) -> bytes:
        return self[:-20] + _SERIAL.pack(serial & 0xFFFFFFFF) + self[-16:]


@functools.lru_cache(maxsize=8192)
def compressed_name(name: Name, question: Name) -> bytes:
    """``name`` on the wire, its longest suffix in common with ``question`` (at offset 12) a
    pointer; remembered, as the same targets recur in the answers to the same questions."""
    check_name(name)
    suffixes = {}
    offset = 12
    for i, label in enumerate(question):
        suffixes[question[i:]] = offset
        offset += 1 + len(label)
    out = bytearray()
    for i, label in enumerate(name):
        pointer = suffixes.get(name[i:])
        if pointer is not None:
            return bytes(out + struct.pack(">H", 0xC000 | pointer))
        out.append(len(label))
        out += label
    out.append(0)
    return bytes(out)


class Encoder:
    """Encodes records for one question, compressing names against the question only."""

    def __init__(self, question: Name, compress: bool) -> None:
        self._question = question
        self._compress = compress
        self._names: dict[Name, bytes] = {}  # each name encoded once per reply
        if compress and question:
            self._names[question] = b"\xc0\x0c"  # the question's name, at offset 12

    def name(self, name: Name) -> bytes:
        wire = self._names.get(name)
        if wire is None:
            wire = self._names[name] = (compressed_name(name, self._question) if self._compress
                                        else name_wire(name))
        return wire

    def record(self, rec: Record) -> bytes:
        wire = (self.name(rec.name) + _RR_HEADER.pack(rec.rtype, CLASS_IN, rec.ttl & 0xFFFFFFFF,
                                                      len(rec.rdata)) + rec.rdata)
        return SerialRecord(wire) if rec.rtype == SOA else wire
