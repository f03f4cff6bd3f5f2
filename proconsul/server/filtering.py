"""``?filter=`` on the server side: compile once per request, 400 on a bad expression."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from proconsul.lib.bexpr import FilterError, compile_filter
from proconsul.structs.errors import BadRequest


class ResultFilter:
    """Keeps the items an expression accepts; with no expression keeps everything."""

    def __init__(self, expression: str, schema: type) -> None:
        self._filter = None
        if expression:
            try:
                self._filter = compile_filter(expression, schema)
            except FilterError as err:
                raise BadRequest(
                    f"Failed to create boolean expression evaluator: {err}") from None

    def apply(self, items: Iterable[Any]) -> list[Any]:
        if self._filter is None:
            return list(items)
        return [item for item in items if self._filter.matches(item)]

    def apply_map(self, items: dict[str, Any]) -> dict[str, Any]:
        if self._filter is None:
            return items
        return {key: value for key, value in items.items() if self._filter.matches(value)}
