"""DNS messages: reading requests, and replies encoded once then sent many times.

Requests are accepted or rejected the way miekg/dns (Consul's DNS library)
does: responses are dropped, other opcodes than QUERY/NOTIFY get NOTIMP,
odd section counts or unparsable messages get FORMERR.

A :class:`Reply` holds a plan's records already encoded for one request;
:meth:`Reply.render` shuffles, cuts and trims them to size (Consul's
``trimUDPResponse``/``trimTCPResponse``) and joins the bytes.
"""

from __future__ import annotations

import random
import struct
import time
from itertools import chain
from operator import attrgetter
from typing import NamedTuple

import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.rcode

from proconsul.agent.dns.plan import Item, Plan, Question, question
from proconsul.agent.dns.records import (
    CNAME,
    OPT,
    SRV,
    Encoder,
    Name,
    SerialRecord,
    lower,
)

HEADER = struct.Struct(">HHHHHH")
_TYPE_CLASS = struct.Struct(">HH")
_RR = struct.Struct(">HHIH")
COUNTS = struct.Struct(">HHHHH")
QR = int(dns.flags.QR)
AA = int(dns.flags.AA)
TC = int(dns.flags.TC)
RD = int(dns.flags.RD)
RA = int(dns.flags.RA)
CD = int(dns.flags.CD)
QUERY = int(dns.opcode.QUERY)
NOTIFY = int(dns.opcode.NOTIFY)

_RRS = attrgetter("rrs")
_randbelow = random._inst._randbelow  # the draw random.sample makes (module-level random)


def _shuffled(items: list) -> list:
    """``random.sample(items, len(items))`` -- the same draws, so the same order for a
    seed -- without its argument checks: every reply with several answers shuffles."""
    n = len(items)
    pool = list(items)
    result = []
    for i in range(n):
        j = _randbelow(n - i)
        result.append(pool[j])
        pool[j] = pool[n - i - 1]
    return result


DEFAULT_UDP_SIZE = 512
MAX_UDP_SIZE = 65535 - 68  # Consul's cap on an advertised EDNS buffer size
MAX_UDP_ANSWERS = 8  # Consul's ceiling for udp_answer_limit
MAX_TCP_SIZE = 65523
MAX_TCP_ANSWERS = 4096
MAX_TCP_SRV_ANSWERS = 1024


class Request(NamedTuple):
    """A parsed request: the parts a reply depends on, and its bytes for recursors."""

    ident: int
    flags: int
    question: Question
    question_wire: bytes
    edns: bool
    udp_size: int
    ecs: dns.edns.ECSOption | None
    wire: bytes

    @property
    def message(self) -> dns.message.Message:
        """The request as dnspython reads it (what is forwarded to recursors)."""
        return dns.message.from_wire(self.wire, ignore_trailing=True)


def reply_flags(request_flags: int, rcode: int) -> int:
    """miekg's ``SetReply``: QR, the opcode, and RD/CD echoed for QUERY."""
    opcode = request_flags & 0x7800
    flags = QR | opcode | rcode
    if opcode == QUERY << 11:
        flags |= request_flags & (RD | CD)
    return flags


def header_reply(ident: int, request_flags: int, rcode: int, question: bytes = b"") -> bytes:
    """A reply with no records (only the question, if given)."""
    return HEADER.pack(ident, reply_flags(request_flags, rcode), 1 if question else 0,
                       0, 0, 0) + question


def parse_request(data: bytes) -> Request | bytes | None:
    """A request, or the bytes of its rejection (FORMERR/NOTIMP), or None to drop it."""
    if len(data) < 12:
        return None
    ident, flags, qdcount, ancount, nscount, arcount = HEADER.unpack_from(data)
    if flags & QR:
        return None
    opcode = (flags >> 11) & 0xF
    if opcode not in (QUERY, NOTIFY):
        return header_reply(ident, flags, dns.rcode.NOTIMP)
    if qdcount != 1 or ancount > 1 or nscount > 1 or arcount > 2:
        return header_reply(ident, flags, dns.rcode.FORMERR)
    if not (ancount or nscount) and arcount < 2:
        request = _parse_plain(data, ident, flags, arcount)
        if request is not None:
            return request
    return _parse_dnspython(data, ident, flags)


def _parse_dnspython(data: bytes, ident: int, flags: int) -> Request | bytes:
    """Any request dnspython reads, or FORMERR."""
    try:
        message = dns.message.from_wire(data, ignore_trailing=True)
    except Exception:  # dnspython signals malformed input with many exception types
        return header_reply(ident, flags, dns.rcode.FORMERR, _question_wire(data))
    q = message.question[0]
    name = tuple(q.name.labels[:-1])
    question_wire = q.name.to_wire() + struct.pack(">HH", q.rdtype, q.rdclass)
    ecs = next((o for o in message.options if isinstance(o, dns.edns.ECSOption)), None)
    return Request(ident, flags, question(name, int(q.rdtype), message.edns >= 0),
                   question_wire, message.edns >= 0, message.payload, ecs, data)


def _parse_plain(data: bytes, ident: int, flags: int, arcount: int) -> Request | None:
    """The common request read straight from the wire: one question with an uncompressed
    name, and at most an OPT record without options. None for anything else (or anything
    malformed): dnspython reads those, and says what is wrong."""
    labels = []
    low = []
    end = len(data)
    pos = 12
    while True:
        if pos >= end:
            return None
        n = data[pos]
        if n == 0:
            break
        if n > 63 or pos + 1 + n > end:
            return None
        label = data[pos + 1:pos + 1 + n]
        labels.append(label)
        low.append(label.lower())
        pos += 1 + n
    pos += 1
    if pos - 12 > 255 or pos + 4 > end:
        return None
    qtype = _TYPE_CLASS.unpack_from(data, pos)[0]
    question_wire = data[12:pos + 4]
    pos += 4
    udp_size = 0
    if arcount:
        # the root's name, then TYPE OPT, CLASS (the buffer size), TTL, RDLENGTH 0
        if pos + 11 > end or data[pos] != 0:
            return None
        rtype, udp_size, _ttl, rdlength = _RR.unpack_from(data, pos + 1)
        if rtype != OPT or rdlength:
            return None
    edns = arcount == 1
    return Request(ident, flags, Question(tuple(labels), qtype, edns, tuple(low)),
                   question_wire, edns, udp_size, None, data)


def _question_wire(data: bytes) -> bytes:
    """The question of an unparsable message, if at least that part reads."""
    try:
        message = dns.message.from_wire(data, question_only=True)
    except Exception:  # as above
        return b""
    q = message.question[0]
    return q.name.to_wire() + struct.pack(">HH", q.rdtype, q.rdclass)


def simple_reply(request: Request, rcode: int, recursion_available: bool = False,
                 edns: bool = False) -> bytes:
    """A reply with the question and no records (REFUSED, SERVFAIL after recursion)."""
    flags = reply_flags(request.flags, rcode) | (RA if recursion_available else 0)
    opt = opt_record(request) if edns and request.edns else b""
    return (HEADER.pack(request.ident, flags, 1, 0, 0, 1 if opt else 0)
            + request.question_wire + opt)


def opt_record(request: Request) -> bytes:
    """The reply's OPT: the client's buffer size, and its client subnet with scope 0."""
    options = b""
    if request.ecs is not None:
        ecs = dns.edns.ECSOption(request.ecs.address, request.ecs.srclen, 0)
        data = ecs.to_wire()
        options = struct.pack(">HH", dns.edns.OptionType.ECS, len(data)) + data
    return b"\0" + struct.pack(">HHIH", OPT, request.udp_size, 0, len(options)) + options


class _Item(NamedTuple):
    """An encoded :class:`~.answers.Item`; ``target``/``sync`` serve Consul's ``syncExtra``."""

    rrs: tuple[bytes, ...]
    extra: tuple[bytes, ...]
    target: Name | None
    sync: tuple[bytes, ...]


def _encode_item(item: Item, encode) -> _Item:
    """Encode an item; for an SRV, find the additional records trimming keeps for its target.

    That is the first additional record named like the target, following CNAMEs.
    """
    first = item.rrs[0] if item.rrs else None
    target = lower(first.target) if first is not None and first.rtype == SRV else None
    rrs = tuple(map(encode, item.rrs))
    if not item.extra:
        return _Item(rrs, (), target, ())
    extra = tuple(map(encode, item.extra))
    sync: list[bytes] = []
    name, raw, seen = target, first.target if target is not None else None, set()
    while name is not None and name not in seen:
        seen.add(name)
        found = None
        for record, wire in zip(item.extra, extra, strict=True):
            if record.name is raw or lower(record.name) == name:
                found = wire
                break
        if found is None:
            break
        sync.append(found)
        raw = record.target
        name = lower(raw) if raw is not None and record.rtype == CNAME else None
    return _Item(rrs, extra, target, tuple(sync))


def _size(base: int, *sections: list[bytes]) -> int:
    return base + sum(map(len, chain(*sections)))


def _synced(answers: list[bytes], owners: list[_Item]) -> list[bytes]:
    """``syncExtra``: just the additional records the remaining SRV answers need."""
    extra: list[bytes] = []
    seen = set()
    for item in owners[:len(answers)]:
        if item.target is not None and item.target not in seen:
            seen.add(item.target)
            extra.extend(item.sync)
    return extra


def _binary_truncate(base: int, answers: list[bytes], owners: list[_Item], max_size: int) -> int:
    """``dnsBinaryTruncate``: how many answers fit in ``max_size`` (close enough counts)."""
    start, end = 0, len(answers) + 1
    while end - start > 1:
        median = start + (end - start) // 2
        size = _size(base, answers[:median], _synced(answers[:median], owners))
        if size <= max_size:
            if max_size - size < 10:
                return median
            start = median
        else:
            end = median
    return start


def _trim(base: int, answers: list[bytes], authority: list[bytes], extra: list[bytes],
          owners: list[_Item], max_size: int, search_size: int
          ) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """Drop the authority, then answers (and their additional records) while over ``max_size``.

    Big cuts are found by a binary search against ``search_size``, as Consul does.
    """
    while len(answers) > 1 and _size(base, answers, authority, extra) > max_size:
        authority = []
        if _size(base, answers, authority, extra) - search_size > 100:
            answers = answers[:_binary_truncate(base, answers, owners, search_size)]
        else:
            answers = answers[:-1]
        extra = _synced(answers, owners)
    return answers, authority, extra


class Reply:
    """A plan encoded for one request over one transport, rendered afresh per reply."""

    __slots__ = ("_flags", "_question", "_opt", "_answers", "_authority", "_extra",
                 "_shuffle", "_take", "_authority_take", "_soa", "_tcp", "_max_size",
                 "_answer_limit", "_truncate", "_srv", "_base", "_fixed")

    def __init__(self, request: Request, plan: Plan, *, tcp: bool, compress: bool,
                 recursion_available: bool, udp_answer_limit: int,
                 enable_truncate: bool) -> None:
        encoder = Encoder(request.question.name, compress)
        encode = encoder.record
        flags = reply_flags(request.flags, plan.rcode) | AA
        self._flags = flags | (RA if recursion_available else 0)
        self._question = request.question_wire
        self._opt = opt_record(request) if request.edns else b""
        self._answers = [_encode_item(item, encode) for item in plan.answers]
        self._authority = [_encode_item(item, encode) for item in plan.authority] \
            if plan.authority else []
        self._extra = list(map(encode, plan.extra))
        self._shuffle = plan.shuffle
        self._take = plan.take
        self._authority_take = plan.authority_take
        self._soa = SerialRecord in map(type, chain.from_iterable(
            map(_RRS, chain(self._answers, self._authority))))
        self._tcp = tcp
        self._max_size = DEFAULT_UDP_SIZE
        if request.edns and request.udp_size > DEFAULT_UDP_SIZE:
            self._max_size = min(request.udp_size, MAX_UDP_SIZE)
        self._answer_limit = min(MAX_UDP_ANSWERS, udp_answer_limit)
        self._truncate = enable_truncate
        self._srv = request.question.qtype == SRV
        self._base = 12 + len(self._question) + len(self._opt)
        varies = self._soa or (self._shuffle and (len(self._answers) > 1
                                                  or len(self._authority) > 1))
        self._fixed = None if varies else self._build()

    def render(self, ident: bytes) -> bytes:
        """The reply with the two-byte ID ``ident``."""
        if self._fixed is not None:
            return ident + self._fixed
        return ident + self._build()

    def _build(self) -> bytes:
        answer_items, authority_items = self._answers, self._authority
        if self._shuffle:
            if len(answer_items) > 1:
                answer_items = _shuffled(answer_items)
            if len(authority_items) > 1:
                authority_items = _shuffled(authority_items)
        if self._take:
            answer_items = answer_items[:self._take]
        if self._authority_take:
            authority_items = authority_items[:self._authority_take]
        answers = [r for item in answer_items for r in item.rrs]
        authority = [r for item in authority_items for r in item.rrs]
        extra = [*self._extra, *(r for item in answer_items for r in item.extra),
                 *(r for item in authority_items for r in item.extra)]
        if self._soa:
            serial = int(time.time())
            answers = [r.at(serial) if r.__class__ is SerialRecord else r for r in answers]
            authority = [r.at(serial) if r.__class__ is SerialRecord else r for r in authority]
        flags = self._flags
        size = _size(self._base, answers, authority, extra)
        if self._tcp:
            cap = MAX_TCP_SRV_ANSWERS if self._srv else MAX_TCP_ANSWERS
            if len(answers) > cap or size > MAX_TCP_SIZE:
                answers = answers[:cap]
                if len(answers) > 1 and _size(self._base, answers, authority, extra) > MAX_TCP_SIZE:
                    owners = [item for item in answer_items for _ in item.rrs]
                    answers, authority, extra = _trim(self._base, answers, authority, extra,
                                                      owners, MAX_TCP_SIZE, MAX_TCP_SIZE)
                    if self._truncate:
                        flags |= TC
        elif (self._max_size == DEFAULT_UDP_SIZE and len(answers) > self._answer_limit) \
                or size > self._max_size - 8:
            count = len(answers)
            owners = [item for item in answer_items for _ in item.rrs]
            if self._max_size == DEFAULT_UDP_SIZE and count > self._answer_limit:
                answers = answers[:self._answer_limit]
                extra = _synced(answers, owners)
            # The UDP header's 8 bytes count against the client's buffer.
            answers, authority, extra = _trim(self._base, answers, authority, extra, owners,
                                              self._max_size - 8, self._max_size)
            if self._truncate and len(answers) < count:
                flags |= TC
        return b"".join((COUNTS.pack(flags, 1, len(answers), len(authority),
                                     len(extra) + (1 if self._opt else 0)),
                         self._question, *answers, *authority, *extra, self._opt))
