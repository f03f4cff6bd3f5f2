"""Prepared query templates: compile once, render per looked-up name.

A template's ``Service`` strings may hold interpolations in Consul's HIL
syntax, limited to what templates use: ``${name.full}``, ``${name.prefix}``,
``${name.suffix}``, ``${agent.segment}`` and ``${match(N)}`` (group ``N`` of
``Template.Regexp`` matched against the name; empty when out of range).
``$${`` is a literal ``${``. Compiling checks the type, the regexp and every
string, then renders once with the template's own name, as Consul does.
``Template.Regexp`` is RE2, as Go's regexp: the same syntax Consul accepts, and
matching in linear time, so no name can stall the server.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import re2
from msgspec.structs import replace

from proconsul.structs.prepared_query import (
    TEMPLATE_NAME_PREFIX_MATCH,
    PreparedQuery,
    QueryFailoverOptions,
    ServiceQuery,
)

# The strings of a ServiceQuery (and of each failover target) a template interpolates.
_SCALARS = ("Service", "SamenessGroup", "Near", "Peer")
_TARGET_FIELDS = ("Peer", "Datacenter")
_MATCH_CALL = re.compile(r"match\(\s*(-?\d+)\s*\)")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a bad Regexp is the user's error, answered, not logged


class TemplateError(ValueError):
    """A template that does not compile or render; the text is Consul's."""


# A compiled string: literal text and ("var", name) / ("match", n) parts.
Part = str | tuple[str, str | int]


def parse(text: str) -> list[Part]:
    """Split ``text`` into literals and interpolations; ValueError says what is wrong."""
    parts: list[Part] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("$${", i):
            literal.append("${")
            i += 3
            continue
        if not text.startswith("${", i):
            literal.append(text[i])
            i += 1
            continue
        end = text.find("}", i + 2)
        if end < 0:
            raise ValueError(f"unterminated interpolation at column {i + 1}")
        expr = text[i + 2:end].strip()
        if literal:
            parts.append("".join(literal))
            literal = []
        parts.append(_expression(expr))
        i = end + 1
    if literal:
        parts.append("".join(literal))
    return parts


def _expression(expr: str) -> tuple[str, str | int]:
    call = _MATCH_CALL.fullmatch(expr)
    if call is not None:
        return ("match", int(call.group(1)))
    if _IDENT.fullmatch(expr):
        return ("var", expr)
    raise ValueError(f"invalid expression {expr!r}")


@dataclass(frozen=True, slots=True)
class RenderContext:
    """What interpolations see for one lookup."""

    full: str
    prefix: str
    segment: str
    matches: tuple[str, ...]

    def value(self, part: tuple[str, str | int]) -> str:
        kind, arg = part
        if kind == "match":
            return self.matches[arg] if 0 <= arg < len(self.matches) else ""
        if arg == "name.full":
            return self.full
        if arg == "name.prefix":
            return self.prefix
        if arg == "name.suffix":
            if self.full.lower().startswith(self.prefix.lower()):
                return self.full[len(self.prefix):]
            return self.full
        if arg == "agent.segment":
            return self.segment
        raise TemplateError(f"unknown variable accessed: {arg}")


def _rebuild(service: ServiceQuery, value: Callable[[str, str], str]) -> ServiceQuery:
    """``service`` with each string a template may interpolate replaced by
    ``value(path, text)``; paths look like ``.Tags[0]`` or ``.NodeMeta[rack]``."""

    def items(name: str) -> list[str] | None:
        old = getattr(service, name)
        return None if old is None else [value(f".{name}[{i}]", t) for i, t in enumerate(old)]

    def meta(name: str) -> dict[str, str] | None:
        old = getattr(service, name)
        return None if old is None else {k: value(f".{name}[{k}]", v) for k, v in old.items()}

    failover = service.Failover
    datacenters = failover.Datacenters
    if datacenters is not None:
        datacenters = [value(f".Failover.Datacenters[{i}]", dc) for i, dc in enumerate(datacenters)]
    targets = failover.Targets
    if targets is not None:
        targets = [replace(target, **{name: value(f".Failover.Targets[{i}].{name}",
                                                  getattr(target, name))
                                      for name in _TARGET_FIELDS})
                   for i, target in enumerate(targets)]
    scalars = {name: value(f".{name}", getattr(service, name)) for name in _SCALARS}
    return replace(service, **scalars, Tags=items("Tags"), IgnoreCheckIDs=items("IgnoreCheckIDs"),
                   NodeMeta=meta("NodeMeta"), ServiceMeta=meta("ServiceMeta"),
                   Failover=QueryFailoverOptions(NearestN=failover.NearestN,
                                                 Datacenters=datacenters, Targets=targets))


class CompiledTemplate:
    """A template ready to render for any name it matches."""

    def __init__(self, query: PreparedQuery) -> None:
        if query.Template.Type != TEMPLATE_NAME_PREFIX_MATCH:
            raise TemplateError(f"Bad Template.Type '{query.Template.Type}'")
        self.query = query
        self._trees: dict[str, list[Part]] = {}

        def compile_string(path: str, text: str) -> str:
            try:
                self._trees[path] = parse(text)
            except ValueError as err:
                raise TemplateError(f"Bad format '{text}' in Service{path}: {err}") from None
            return text

        _rebuild(query.Service, compile_string)
        self._regexp = None
        if query.Template.Regexp:
            try:
                self._regexp = re2.compile(query.Template.Regexp, _RE2_OPTIONS)
            except re2.error as err:
                why = err.args[0].decode() if err.args and isinstance(err.args[0], bytes) \
                    else str(err)
                raise TemplateError(f"Bad Regexp: error parsing regexp: {why}") from None
        self.render(query.Name)

    def render(self, name: str, segment: str = "") -> PreparedQuery:
        """The query as it runs for the looked-up ``name``."""
        matches: tuple[str, ...] = ()
        if self._regexp is not None:
            found = self._regexp.search(name)
            if found is not None:
                matches = (found.group(0), *(g or "" for g in found.groups()))
        context = RenderContext(name, self.query.Name, segment, matches)

        def value(path: str, text: str) -> str:
            tree = self._trees.get(path)
            if tree is None:
                return text
            out = []
            for part in tree:
                if isinstance(part, str):
                    out.append(part)
                    continue
                try:
                    out.append(context.value(part))
                except TemplateError as err:
                    raise TemplateError(
                        f"Bad evaluation for '{text}' in Service{path}: {err}") from None
            return "".join(out)

        service = _rebuild(self.query.Service, value)
        if self.query.Template.RemoveEmptyTags and service.Tags is not None:
            service = replace(service, Tags=[tag for tag in service.Tags if tag])
        return replace(self.query, Service=service)
