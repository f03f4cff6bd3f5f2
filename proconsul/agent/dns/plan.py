"""A reply's content before encoding: records grouped by what contributed them."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import NamedTuple

import dns.rcode

from proconsul.agent.dns.records import Name, Record, lower

NOERROR = dns.rcode.NOERROR


class Question(NamedTuple):
    """The question of a request: its name as asked, its type, whether it came with EDNS,
    and the name lower-cased (see :func:`question`)."""

    name: Name
    qtype: int
    edns: bool
    lower: Name


def question(name: Name, qtype: int, edns: bool = False) -> Question:
    return Question(name, qtype, edns, lower(name))


class Item(NamedTuple):
    """The answer records one instance (or nameserver) contributes, and its additional records."""

    rrs: tuple[Record, ...]
    extra: tuple[Record, ...] = ()


@dataclass(slots=True)
class Plan:
    """A reply's content before it is shuffled, cut to size and encoded.

    Answer items are shuffled per reply when ``shuffle`` is set (so are
    authority items), then cut to ``take`` (0: all). Additional records are
    ``extra`` followed by those of the chosen items.
    """

    rcode: int = NOERROR
    answers: list[Item] = field(default_factory=list)
    shuffle: bool = False
    take: int = 0
    authority: list[Item] = field(default_factory=list)
    authority_take: int = 0
    extra: list[Record] = field(default_factory=list)
    cacheable: bool = True

    def with_ttl(self, ttl: int) -> Plan:
        """The same plan with every record's TTL set to ``ttl``."""

        def items(section: list[Item]) -> list[Item]:
            return [Item(tuple(r._replace(ttl=ttl) for r in item.rrs),
                         tuple(r._replace(ttl=ttl) for r in item.extra)) for item in section]

        return replace(self, answers=items(self.answers), authority=items(self.authority),
                       extra=[r._replace(ttl=ttl) for r in self.extra])
