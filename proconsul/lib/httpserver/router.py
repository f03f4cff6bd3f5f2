"""Routes: a path pattern and a handler per method.

Patterns are literal paths, or have ``{name}`` (one path segment) and
``{name:regex}`` parts, e.g. ``/v1/kv/{key:.*}``. Literal paths win over
patterns. Patterns whose literal start has the path's first two segments
(``/v1/kv/``) are tried in the order they were added, then those with a
shorter literal start.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Awaitable, Callable
from typing import Any

Handler = Callable[[Any], Awaitable[Any]]

_PART = re.compile(r"\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::(?P<regex>[^{}]*))?\}")


class NotFound(Exception):
    """No route has this path."""


class MethodNotAllowed(Exception):
    """Routes have this path, but none takes this method."""

    def __init__(self, method: str, allowed: set[str]):
        super().__init__(f"method {method} not allowed")
        self.method = method
        self.allowed = allowed


class Resource:
    """One path pattern with its handlers by method."""

    __slots__ = ("canonical", "regex", "handlers", "bucket")

    def __init__(self, pattern: str):
        self.canonical = _PART.sub(lambda m: "{" + m["name"] + "}", pattern)
        part = _PART.search(pattern)
        self.regex = _compile(pattern) if part else None
        self.handlers: dict[str, Handler] = {}
        literal_start = pattern[:part.start()] if part else pattern
        # The bucket of paths this pattern can match: "/v1/kv/{key}" -> "/v1/kv/"; None
        # when the literal start is shorter than two whole segments.
        self.bucket = _bucket(literal_start)


def _bucket(path: str) -> str | None:
    """``/a/b/`` of a path ``/a/b/...``; None if the path has no third ``/``."""
    end = path.find("/", path.find("/", 1) + 1)
    return path[:end + 1] if end > 0 else None


def _compile(pattern: str) -> re.Pattern[str]:
    out, pos = [], 0
    for m in _PART.finditer(pattern):
        out.append(re.escape(pattern[pos:m.start()]))
        out.append(f"(?P<{m['name']}>{m['regex'] or '[^{}/]+'})")
        pos = m.end()
    out.append(re.escape(pattern[pos:]))
    return re.compile("".join(out), re.DOTALL)  # a decoded %0A is part of a key too


class Router:
    """Finds the handler for a method and a (decoded) path."""

    def __init__(self) -> None:
        self._literal: dict[str, Resource] = {}
        self._patterns: dict[str | None, list[Resource]] = {None: []}
        self._by_pattern: dict[str, Resource] = {}

    def add_route(self, method: str, pattern: str, handler: Handler) -> None:
        resource = self._by_pattern.get(pattern)
        if resource is None:
            resource = self._by_pattern[pattern] = Resource(pattern)
            if resource.regex is None:
                self._literal[pattern] = resource
            else:
                self._patterns.setdefault(resource.bucket, []).append(resource)
        if method in resource.handlers:
            raise ValueError(f"{method} {pattern} is already routed")
        resource.handlers[method] = handler

    def add_get(self, pattern: str, handler: Handler, *, allow_head: bool = True) -> None:
        self.add_route("GET", pattern, handler)
        if allow_head:
            self.add_route("HEAD", pattern, handler)

    def add_put(self, pattern: str, handler: Handler) -> None:
        self.add_route("PUT", pattern, handler)

    def add_post(self, pattern: str, handler: Handler) -> None:
        self.add_route("POST", pattern, handler)

    def add_delete(self, pattern: str, handler: Handler) -> None:
        self.add_route("DELETE", pattern, handler)

    def routes(self) -> list[tuple[str, str]]:
        """Every ``(method, pattern)`` routed, patterns as ``/v1/kv/{key}``, in the order added."""
        return [(method, resource.canonical) for resource in self._by_pattern.values()
                for method in resource.handlers]

    def resolve(self, method: str, path: str) -> tuple[Handler, dict[str, str], Resource]:
        """The handler, the pattern's parts and the resource; NotFound or MethodNotAllowed."""
        allowed: set[str] = set()
        resource = self._literal.get(path)
        if resource is not None:
            handler = resource.handlers.get(method)
            if handler is not None:
                return handler, {}, resource
            allowed.update(resource.handlers)
        bucket = _bucket(path)
        candidates = self._patterns.get(bucket, ()) if bucket is not None else ()
        for resource in itertools.chain(candidates, self._patterns[None]):
            match = resource.regex.fullmatch(path)  # type: ignore[union-attr]
            if match is None:
                continue
            handler = resource.handlers.get(method)
            if handler is not None:
                return handler, match.groupdict(), resource
            allowed.update(resource.handlers)
        if allowed:
            raise MethodNotAllowed(method, allowed)
        raise NotFound(path)
